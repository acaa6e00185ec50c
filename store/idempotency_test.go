package store_test

import (
	"bytes"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
)

// A key is claimed once; while its first request runs, the key is in
// progress; its answer replays for the same request and refuses another;
// scopes never meet; a released claim may be made again; an abandoned
// claim is taken over after the lease, and a record is new again after
// its TTL and swept by ExpireIdempotency.
func TestIdempotency(t *testing.T) {
	clock := newClock()
	eachRawDB(t, clock.options(), func(t *testing.T, db rawDB) {
		claim := func(scope, key, req string) (*store.StoredResponse, error) {
			t.Helper()
			return db.ClaimIdempotency(ctx, scope, key, []byte(req))
		}
		mustClaim := func(scope, key, req string) {
			t.Helper()
			if kept, err := claim(scope, key, req); kept != nil || err != nil {
				t.Fatalf("claim %s %s: %+v, %v; want the first claim", scope, key, kept, err)
			}
		}
		mustClaim("operator:ann", "k1", "POST /a {}")
		if _, err := claim("operator:ann", "k1", "POST /a {}"); !errors.Is(err, store.ErrIdempotencyInProgress) {
			t.Fatalf("a second claim in flight: %v", err)
		}
		if _, err := claim("operator:ann", "k1", "POST /a {\"x\":1}"); !errors.Is(err, store.ErrIdempotencyConflict) {
			t.Fatalf("another request in flight: %v", err)
		}
		answer := store.StoredResponse{Status: 201, Header: map[string][]string{"Content-Type": {"application/json"}, "Location": {"/x"}},
			Body: []byte(`{"key":"pk_canary_7391648355"}`)}
		if err := db.FinishIdempotency(ctx, "operator:ann", "k1", answer); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			kept, err := claim("operator:ann", "k1", "POST /a {}")
			if err != nil || kept == nil || !reflect.DeepEqual(*kept, answer) {
				t.Fatalf("replay: %+v, %v", kept, err)
			}
		}
		if _, err := claim("operator:ann", "k1", "POST /b {}"); !errors.Is(err, store.ErrIdempotencyConflict) {
			t.Fatalf("another request after the answer: %v", err)
		}
		// Another caller's key of the same name is another key.
		mustClaim("merchant:DEMO", "k1", "POST /a {}")
		mustClaim("operator:bob", "k1", "POST /b {}")

		// Released: claimed again at once; a kept answer is not released.
		mustClaim("operator:ann", "k2", "POST /a {}")
		if err := db.ReleaseIdempotency(ctx, "operator:ann", "k2"); err != nil {
			t.Fatal(err)
		}
		mustClaim("operator:ann", "k2", "POST /other {}")
		if err := db.ReleaseIdempotency(ctx, "operator:ann", "k1"); err != nil {
			t.Fatal(err)
		}
		if kept, err := claim("operator:ann", "k1", "POST /a {}"); err != nil || kept == nil {
			t.Fatalf("after releasing an answered key: %+v, %v", kept, err)
		}

		// Abandoned (its process died): in progress until the lease ends,
		// then taken over by the same request — another is still refused.
		mustClaim("operator:ann", "k3", "POST /a {}")
		clock.Add(store.IdempotencyLease - time.Second)
		if _, err := claim("operator:ann", "k3", "POST /a {}"); !errors.Is(err, store.ErrIdempotencyInProgress) {
			t.Fatalf("before the lease ends: %v", err)
		}
		clock.Add(time.Second)
		if _, err := claim("operator:ann", "k3", "POST /b {}"); !errors.Is(err, store.ErrIdempotencyConflict) {
			t.Fatalf("another request after the lease: %v", err)
		}
		mustClaim("operator:ann", "k3", "POST /a {}")
		if _, err := claim("operator:ann", "k3", "POST /a {}"); !errors.Is(err, store.ErrIdempotencyInProgress) {
			t.Fatalf("after the takeover: %v", err)
		}

		// After the TTL a key is new, even before the sweep.
		clock.Add(store.IdempotencyTTL)
		mustClaim("operator:ann", "k1", "POST /b {}")
		// k1 was claimed again just now; the others are older than the TTL.
		n, err := db.ExpireIdempotency(ctx, clock.Now().Add(-store.IdempotencyTTL+time.Second))
		if err != nil || n != 4 { // DEMO's and bob's k1, ann's k2 and k3
			t.Fatalf("expired %d, %v; want 4", n, err)
		}
		if _, err := claim("operator:ann", "k1", "POST /b {}"); !errors.Is(err, store.ErrIdempotencyInProgress) {
			t.Fatalf("the fresh record was swept: %v", err)
		}
		mustClaim("operator:bob", "k1", "POST /c {}")

		// Neither the answer (it may hold a new API key) nor the request
		// (a body may hold a PIN) is stored in clear.
		mustClaim("merchant:DEMO", "k9", `POST /v1/payment-requests {"pin":"739164"}`)
		if err := db.FinishIdempotency(ctx, "merchant:DEMO", "k9", answer); err != nil {
			t.Fatal(err)
		}
		var rows []struct {
			Hash     []byte `db:"body_hash"`
			Response []byte `db:"response"`
		}
		if err := db.raw.Select(&rows, `SELECT body_hash, response FROM idempotency`); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			for _, canary := range []string{"pk_canary_7391648355", "739164"} {
				if bytes.Contains(r.Response, []byte(canary)) || bytes.Contains(r.Hash, []byte(canary)) {
					t.Errorf("%q stored in clear", canary)
				}
			}
		}
		if err := db.FinishIdempotency(ctx, "merchant:DEMO", "k9", store.StoredResponse{}); err == nil {
			t.Error("an answer without a status was kept")
		}
	})
}

// Of many requests with one key at once, exactly one runs.
func TestIdempotencyRace(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		const n = 16
		var (
			wg              sync.WaitGroup
			mu              sync.Mutex
			first, progress int
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				kept, err := db.ClaimIdempotency(ctx, "operator:ann", "race", []byte("POST /a {}"))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && kept == nil:
					first++
				case errors.Is(err, store.ErrIdempotencyInProgress):
					progress++
				default:
					t.Errorf("claim: %+v, %v", kept, err)
				}
			}()
		}
		wg.Wait()
		if first != 1 || progress != n-1 {
			t.Fatalf("%d first claims and %d in progress of %d", first, progress, n)
		}
	})
}
