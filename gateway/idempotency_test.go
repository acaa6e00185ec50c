package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/paygate/paygate/store"
)

// idemRig is g.idempotent over a real store, around a handler that
// counts its runs and answers what the test says.
type idemRig struct {
	t    *testing.T
	g    *Gateway
	runs atomic.Int32
	// answer is what the handler does; it runs once per call that gets
	// through.
	answer func(w http.ResponseWriter, r *http.Request)
	h      http.HandlerFunc
}

func newIdemRig(t *testing.T) *idemRig {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "paygate.db"),
		store.Options{Keys: store.Keys{DataKey: [32]byte{9, 8, 7}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := &idemRig{t: t, g: &Gateway{db: db, log: slog.New(slog.DiscardHandler)}}
	r.answer = func(w http.ResponseWriter, req *http.Request) {
		var body map[string]any
		if !readJSON(w, req, &body) {
			return
		}
		w.Header().Set("Location", "/v1/things/1")
		writeJSON(w, http.StatusCreated, map[string]any{"run": r.runs.Load(), "got": body})
	}
	scope := func(req *http.Request) string { return req.Header.Get("X-Scope") }
	r.h = r.g.idempotent(scope, func(w http.ResponseWriter, req *http.Request) {
		r.runs.Add(1)
		r.answer(w, req)
	})
	return r
}

// do sends a POST to path with body, Idempotency-Key key ("" for none)
// in scope, and returns the answer.
func (r *idemRig) do(scope, key, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("X-Scope", scope)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	r.h(w, req)
	return w
}

// errorCode is the error code of an answer, "" when it is not an error.
func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("answer %d is not JSON: %q", w.Code, w.Body)
	}
	return e.Error.Code
}

// The same key and request replay the first answer byte for byte, and
// the handler runs once; another body or path with the key is
// idempotency_conflict; other callers' keys never meet; no key runs the
// handler every time.
func TestIdempotentReplays(t *testing.T) {
	r := newIdemRig(t)
	first := r.do("operator:ann", "key-1", "/v1/things", `{"a":1}`)
	if first.Code != http.StatusCreated || first.Header().Get(replayedHeader) != "" {
		t.Fatalf("first: %d %v %s", first.Code, first.Header(), first.Body)
	}
	for range 3 {
		again := r.do("operator:ann", "key-1", "/v1/things", `{"a":1}`)
		if again.Code != first.Code || again.Body.String() != first.Body.String() ||
			again.Header().Get("Location") != "/v1/things/1" || again.Header().Get("Content-Type") != "application/json" ||
			again.Header().Get(replayedHeader) != "true" {
			t.Fatalf("replay: %d %v %s\nfirst: %d %v %s", again.Code, again.Header(), again.Body, first.Code, first.Header(), first.Body)
		}
	}
	if n := r.runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times", n)
	}
	for _, c := range []struct{ name, path, body string }{
		{"other body", "/v1/things", `{"a":2}`},
		{"same JSON, other bytes", "/v1/things", `{"a": 1}`},
		{"other path", "/v1/others", `{"a":1}`},
		{"other query", "/v1/things?x=1", `{"a":1}`},
	} {
		if w := r.do("operator:ann", "key-1", c.path, c.body); w.Code != http.StatusConflict || errorCode(t, w) != "idempotency_conflict" {
			t.Errorf("%s: %d %s", c.name, w.Code, w.Body)
		}
	}
	// Another caller's key-1 is its own.
	if w := r.do("operator:bob", "key-1", "/v1/things", `{"a":2}`); w.Code != http.StatusCreated || w.Header().Get(replayedHeader) != "" {
		t.Errorf("bob's key-1: %d %s", w.Code, w.Body)
	}
	if w := r.do("merchant:DEMO", "key-1", "/v1/things", `{"a":1}`); w.Code != http.StatusCreated || w.Header().Get(replayedHeader) != "" {
		t.Errorf("DEMO's key-1: %d %s", w.Code, w.Body)
	}
	before := r.runs.Load()
	for range 2 {
		if w := r.do("operator:ann", "", "/v1/things", `{"a":1}`); w.Code != http.StatusCreated {
			t.Errorf("no key: %d", w.Code)
		}
	}
	if n := r.runs.Load() - before; n != 2 {
		t.Errorf("without a key the handler ran %d times of 2", n)
	}
	// A refusal of the handler is an answer too: kept and replayed.
	w := r.do("operator:ann", "key-2", "/v1/things", `not json`)
	again := r.do("operator:ann", "key-2", "/v1/things", `not json`)
	if w.Code != http.StatusBadRequest || again.Code != http.StatusBadRequest || again.Header().Get(replayedHeader) != "true" {
		t.Errorf("a 400 answer: %d, then %d %v", w.Code, again.Code, again.Header())
	}
}

// Keys must be 1 to 255 printable ASCII characters, one header; a body
// over the limit is refused; none of these runs the handler.
func TestIdempotencyKeyRefused(t *testing.T) {
	r := newIdemRig(t)
	for _, c := range []struct {
		name string
		keys []string
		body string
	}{
		{"empty", []string{""}, "{}"},
		{"too long", []string{strings.Repeat("k", 256)}, "{}"},
		{"control character", []string{"a\x01b"}, "{}"},
		{"not ASCII", []string{"clé"}, "{}"},
		{"two headers", []string{"a", "b"}, "{}"},
		{"body too large", []string{"big"}, `{"a":"` + strings.Repeat("x", maxBody) + `"}`},
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/things", strings.NewReader(c.body))
		req.Header.Set("X-Scope", "operator:ann")
		req.Header["Idempotency-Key"] = c.keys
		w := httptest.NewRecorder()
		r.h(w, req)
		if w.Code != http.StatusBadRequest || errorCode(t, w) != "invalid_request" {
			t.Errorf("%s: %d %s", c.name, w.Code, w.Body)
		}
	}
	if n := r.runs.Load(); n != 0 {
		t.Errorf("the handler ran %d times", n)
	}
	if w := r.do("operator:ann", strings.Repeat("k", 255), "/v1/things", "{}"); w.Code != http.StatusCreated {
		t.Errorf("a key of 255 characters: %d %s", w.Code, w.Body)
	}
	if w := r.do("operator:ann", "with spaces and ~!@#", "/v1/things", "{}"); w.Code != http.StatusCreated {
		t.Errorf("a key of printable characters: %d %s", w.Code, w.Body)
	}
	if w := r.do("", "k", "/v1/things", "{}"); w.Code != http.StatusInternalServerError {
		t.Errorf("no scope: %d %s", w.Code, w.Body)
	}
}

// A second request with the key while the first is still being answered
// is idempotency_in_progress (with Retry-After); afterwards it replays.
func TestIdempotencyInProgress(t *testing.T) {
	r := newIdemRig(t)
	entered, release := make(chan struct{}), make(chan struct{})
	answer := r.answer
	r.answer = func(w http.ResponseWriter, req *http.Request) {
		close(entered)
		<-release
		answer(w, req)
	}
	var wg sync.WaitGroup
	var first *httptest.ResponseRecorder
	wg.Add(1)
	go func() {
		defer wg.Done()
		first = r.do("operator:ann", "slow", "/v1/things", "{}")
	}()
	<-entered
	w := r.do("operator:ann", "slow", "/v1/things", "{}")
	if w.Code != http.StatusConflict || errorCode(t, w) != "idempotency_in_progress" || w.Header().Get("Retry-After") == "" {
		t.Errorf("while in flight: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := r.do("operator:ann", "slow", "/v1/things", `{"other":1}`); w.Code != http.StatusConflict || errorCode(t, w) != "idempotency_conflict" {
		t.Errorf("another body while in flight: %d %s", w.Code, w.Body)
	}
	close(release)
	wg.Wait()
	if first.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	r.answer = answer
	if w := r.do("operator:ann", "slow", "/v1/things", "{}"); w.Code != http.StatusCreated || w.Header().Get(replayedHeader) != "true" ||
		w.Body.String() != first.Body.String() {
		t.Errorf("after: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if n := r.runs.Load(); n != 1 {
		t.Errorf("the handler ran %d times", n)
	}
}

// An answer of 5xx is not kept, nor is a handler that panicked: the
// same request runs again.
func TestIdempotencyNotKept(t *testing.T) {
	r := newIdemRig(t)
	answer := r.answer
	r.answer = func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "try again")
	}
	if w := r.do("operator:ann", "k", "/v1/things", "{}"); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("first: %d", w.Code)
	}
	r.answer = func(w http.ResponseWriter, req *http.Request) { panic("boom") }
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v", p)
			}
		}()
		r.do("operator:ann", "k", "/v1/things", "{}")
	}()
	r.answer = answer
	if w := r.do("operator:ann", "k", "/v1/things", "{}"); w.Code != http.StatusCreated || w.Header().Get(replayedHeader) != "" {
		t.Errorf("after a 503 and a panic: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if n := r.runs.Load(); n != 3 {
		t.Errorf("the handler ran %d times, want 3", n)
	}
	if w := r.do("operator:ann", "k", "/v1/things", "{}"); w.Header().Get(replayedHeader) != "true" {
		t.Errorf("not replayed after a kept answer: %d %v", w.Code, w.Header())
	}
}

// Many requests with one key at once: the handler runs once, every
// other gets the kept answer or idempotency_in_progress.
func TestIdempotencyConcurrent(t *testing.T) {
	r := newIdemRig(t)
	const n = 20
	var wg sync.WaitGroup
	codes := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := r.do("operator:ann", "same", "/v1/things", "{}")
			switch {
			case w.Code == http.StatusCreated:
				codes[i] = fmt.Sprint(w.Code, w.Header().Get(replayedHeader))
			case w.Code == http.StatusConflict:
				codes[i] = "in_progress"
				if c := errorCode(t, w); c != "idempotency_in_progress" {
					t.Errorf("conflict %q", c)
				}
			default:
				t.Errorf("answer %d %s", w.Code, w.Body)
			}
		}()
	}
	wg.Wait()
	if got := r.runs.Load(); got != 1 {
		t.Fatalf("the handler ran %d times: %v", got, codes)
	}
}
