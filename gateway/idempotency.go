package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/paygate/paygate/store"
)

// Idempotency-Key for the JSON API (SPEC §7).
//
// Wrap the handler of every POST (and PUT) route with g.idempotent, inside
// the authentication that names the caller, so that scope can read the
// caller from the request's context:
//
//	g.apiRoute(mux, "POST /v1/payment-requests",
//		g.merchantAuth(g.idempotent(merchantScope, g.createPaymentRequest)))
//
// scope returns the caller's namespace of keys: "merchant:" + code for a
// merchant, "operator:" + name for an operator (the admin API's
// operatorScope), so that two callers' keys never meet. It must not
// return "" (that is a bug: the call is refused with 500).
//
// What the wrapper does with a request that carries Idempotency-Key
// (1 to 255 printable ASCII characters, else 400 invalid_request):
//   - the first request with the key runs h; h's answer (status, headers,
//     body) is kept, sealed, for store.IdempotencyTTL (24 h), then sent;
//     an answer of 5xx is not kept, so a retry runs again;
//   - the same key with the same method, path and body gets the kept
//     answer again, byte for byte, with the header Idempotent-Replayed:
//     true; h does not run;
//   - the same key with another method, path or body: 409
//     idempotency_conflict;
//   - the same key while the first request is still being answered: 409
//     idempotency_in_progress, with Retry-After;
//   - the store unreachable: 503 unavailable, and h does not run.
//
// A request without the header runs h as it is. The body is compared
// byte for byte: a client retries with the very bytes it sent.

// idempotencyHeader is the request header (SPEC §7).
const idempotencyHeader = "Idempotency-Key"

// replayedHeader marks an answer given again from the record.
const replayedHeader = "Idempotent-Replayed"

// maxIdempotencyKey is the longest key accepted, in bytes.
const maxIdempotencyKey = 255

// idempotent wraps h as the comment above says.
func (g *Gateway) idempotent(scope func(*http.Request) string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values(idempotencyHeader)
		if len(values) == 0 {
			h(w, r)
			return
		}
		if len(values) > 1 {
			writeError(w, http.StatusBadRequest, "invalid_request", "send one Idempotency-Key header, not several")
			return
		}
		key := values[0]
		if !validIdempotencyKey(key) {
			writeError(w, http.StatusBadRequest, "invalid_request", "Idempotency-Key must be 1 to 255 printable ASCII characters")
			return
		}
		sc := scope(r)
		if sc == "" {
			g.log.Error("api: idempotency scope unknown", "pattern", r.Pattern)
			writeError(w, http.StatusInternalServerError, "internal", "the caller of this request is unknown")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var big *http.MaxBytesError
			if errors.As(err, &big) {
				writeError(w, http.StatusBadRequest, "invalid_request", "the body is too large")
			} else {
				writeError(w, http.StatusBadRequest, "invalid_request", "the body could not be read")
			}
			return
		}
		// What must be equal for a replay: method, path with query, body.
		request := make([]byte, 0, len(r.Method)+len(r.URL.RequestURI())+len(body)+2)
		request = append(append(append(request, r.Method...), 0), r.URL.RequestURI()...)
		request = append(append(request, 0), body...)
		kept, err := g.db.ClaimIdempotency(r.Context(), sc, key, request)
		switch {
		case errors.Is(err, store.ErrIdempotencyConflict):
			writeError(w, http.StatusConflict, "idempotency_conflict",
				"this Idempotency-Key was used with another request: use a new key for a new request")
			return
		case errors.Is(err, store.ErrIdempotencyInProgress):
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusConflict, "idempotency_in_progress",
				"the first request with this Idempotency-Key is still being answered: try again shortly")
			return
		case err != nil:
			g.log.Error("api: idempotency record unavailable", "pattern", r.Pattern, "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the service is unavailable: try again later")
			return
		case kept != nil:
			for k, v := range kept.Header {
				w.Header()[k] = append([]string(nil), v...)
			}
			w.Header().Set(replayedHeader, "true")
			w.WriteHeader(kept.Status)
			w.Write(kept.Body)
			return
		}

		// First: answer into a buffer, keep the answer, then send it, so
		// that an answer the client may have seen is always kept.
		bg := context.WithoutCancel(r.Context())
		done := false
		defer func() {
			if !done { // h panicked: nothing to replay
				ctx, cancel := context.WithTimeout(bg, 5*time.Second)
				defer cancel()
				if err := g.db.ReleaseIdempotency(ctx, sc, key); err != nil {
					g.log.Warn("api: idempotency key not released", "err", err)
				}
			}
		}()
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rec := newBufferedWriter()
		h(rec, r)
		done = true
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		if rec.status >= 500 {
			err = g.db.ReleaseIdempotency(ctx, sc, key)
		} else {
			err = g.db.FinishIdempotency(ctx, sc, key, store.StoredResponse{Status: rec.status, Header: keptHeader(rec.Header()), Body: rec.body.Bytes()})
		}
		if err != nil {
			// The answer stands; a retry after store.IdempotencyLease
			// would run the request again.
			g.log.Error("api: idempotent answer not kept", "pattern", r.Pattern, "err", err)
		}
		rec.sendTo(w)
	}
}

// validIdempotencyKey reports whether key is 1 to 255 printable ASCII
// characters.
func validIdempotencyKey(key string) bool {
	if len(key) == 0 || len(key) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// keptHeader is what of an answer's header is replayed: all the handler
// set but the date and cookies.
func keptHeader(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		switch k {
		case "Date", "Set-Cookie", "Content-Length":
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}

// bufferedWriter is an http.ResponseWriter that keeps the answer until
// sendTo writes it.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedWriter() *bufferedWriter { return &bufferedWriter{header: http.Header{}} }

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// sendTo writes the kept answer to w.
func (b *bufferedWriter) sendTo(w http.ResponseWriter) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.body.Len() > 0 && w.Header().Get("Content-Length") == "" {
		w.Header().Set("Content-Length", strconv.Itoa(b.body.Len()))
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
}
