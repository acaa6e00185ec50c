package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// writable returns a connection that may write under the store of db:
// on PostgreSQL db.raw, on SQLite one of its own (db.raw is read-only).
func writable(t *testing.T, db rawDB) *sqlx.DB {
	t.Helper()
	if db.path == "" {
		return db.raw
	}
	w, err := sqlx.Open("sqlite3", "file:"+db.path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

var secretRE = regexp.MustCompile(`^whsec_[0-9a-f]{64}$`)

// A webhook URL gets a fresh secret each time it is set, stored sealed
// and bound to the merchant; "" removes both; an unknown merchant is
// ErrNotFound; a URL the syntax check refuses changes nothing and is not
// quoted in the error.
func TestSetMerchantWebhook(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		demo := demoMerchant()
		demo.Webhook = "" // added without one, as the sandbox's DEMO is
		if err := db.AddMerchant(ctx, demo); err != nil {
			t.Fatal(err)
		}
		tea := flows.Merchant{Code: "TEA42", Name: "Tea", Account: flows.AccountRef{Bank: "ICB", Number: "12345678"},
			Webhook: "https://tea.example/hook"} // a URL without a secret
		if err := db.AddMerchant(ctx, tea); err != nil {
			t.Fatal(err)
		}
		if url, secret, err := db.MerchantWebhook(ctx, "DEMO"); url != "" || secret != nil || err != nil {
			t.Fatalf("before: %q, %v", url, err)
		}
		if url, secret, err := db.MerchantWebhook(ctx, "TEA42"); url != tea.Webhook || secret != nil || err != nil {
			t.Fatalf("added with a URL: %q, %d bytes of secret, %v", url, len(secret), err)
		}

		const hook = "https://shop.example/paygate?token=s3cr3t"
		first, err := db.SetMerchantWebhook(ctx, "DEMO", hook)
		if err != nil || !secretRE.MatchString(first) {
			t.Fatalf("secret %q, %v", first, err)
		}
		url, secret, err := db.MerchantWebhook(ctx, "DEMO")
		if err != nil || url != hook || string(secret) != first {
			t.Fatalf("read back %q, %v", url, err)
		}
		var sealed []byte
		if err := db.raw.Get(&sealed, `SELECT webhook_secret FROM merchants WHERE code = 'DEMO'`); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte(first)) || bytes.Contains(sealed, []byte(first[len(store.WebhookSecretPrefix):])) {
			t.Fatal("the secret is stored in clear")
		}
		// The merchant the flows read has the URL too.
		step(t, db.DB, func(tx *store.Tx) error {
			m, err := tx.Merchant(ctx, "DEMO")
			if err != nil || m.Webhook != hook || m.Account.Number != demo.Account.Number {
				return fmt.Errorf("merchant after SetMerchantWebhook: %+v, %v", m, err)
			}
			return nil
		})

		second, err := db.SetMerchantWebhook(ctx, "DEMO", hook) // the same URL: a new secret all the same
		if err != nil || second == first || !secretRE.MatchString(second) {
			t.Fatalf("second secret %q (first %q), %v", second, first, err)
		}
		if _, secret, _ := db.MerchantWebhook(ctx, "DEMO"); string(secret) != second {
			t.Fatal("the new secret is not the one stored")
		}

		// Bound to its merchant: moved to another row it does not open.
		w := writable(t, db)
		if _, err := w.Exec(w.Rebind(`UPDATE merchants SET webhook_secret = ? WHERE code = 'TEA42'`), sealed); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.MerchantWebhook(ctx, "TEA42"); err == nil {
			t.Fatal("DEMO's sealed secret opened as TEA42's")
		}

		for _, bad := range []string{"http://shop.example/hook?token=s3cr3t", "https://user:s3cr3t@shop.example/", "ftp://shop.example/s3cr3t"} {
			_, err := db.SetMerchantWebhook(ctx, "DEMO", bad)
			var fe *store.FieldError
			if !errors.As(err, &fe) || fe.Field != "webhook" || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("%s: %v", bad, err)
			}
		}
		if url, secret, _ := db.MerchantWebhook(ctx, "DEMO"); url != hook || string(secret) != second {
			t.Fatal("a refused URL changed the webhook")
		}

		if _, err := db.SetMerchantWebhook(ctx, "NOBODY", hook); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("unknown merchant: %v", err)
		}
		if _, _, err := db.MerchantWebhook(ctx, "NOBODY"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("unknown merchant: %v", err)
		}

		if s, err := db.SetMerchantWebhook(ctx, "DEMO", ""); s != "" || err != nil {
			t.Fatalf("removing: %q, %v", s, err)
		}
		if url, secret, err := db.MerchantWebhook(ctx, "DEMO"); url != "" || secret != nil || err != nil {
			t.Fatalf("after removing: %q, %d bytes of secret, %v", url, len(secret), err)
		}
		var null bool
		if err := db.raw.Get(&null, `SELECT webhook_secret IS NULL FROM merchants WHERE code = 'DEMO'`); err != nil || !null {
			t.Fatalf("the sealed secret is still stored (%v)", err)
		}
	})
}

// The outbox: events are claimed when due, oldest first, under a lease;
// a retry comes back at its time, counted, with its reason; an expired
// lease frees an event; delivered and undeliverable events are never
// claimed again; an event id queued twice is one event.
func TestWebhookOutbox(t *testing.T) {
	clock := newClock()
	eachRawDB(t, clock.options(), func(t *testing.T, db rawDB) {
		if err := db.AddMerchant(ctx, demoMerchant()); err != nil {
			t.Fatal(err)
		}
		select { // nothing queued yet: no signal
		case <-db.WebhookSignal():
			t.Fatal("a signal before anything was queued")
		default:
		}
		var events []flows.WebhookEvent
		for i := range 3 {
			ev := flows.WebhookEvent{
				ID: fmt.Sprintf("ev-%d-%x", i, randBytes(4)), Merchant: "DEMO", Event: "payment_request.completed",
				Request: fmt.Sprintf("req-%d", i), Body: []byte(fmt.Sprintf(`{"id":"ev-%d"}`, i)), Created: clock.Now(),
			}
			events = append(events, ev)
			step(t, db.DB, func(tx *store.Tx) error { return tx.QueueWebhook(ctx, ev) })
			clock.Add(time.Millisecond)
		}
		select {
		case <-db.WebhookSignal():
		default:
			t.Fatal("no signal after queueing")
		}
		// Again: nothing changes (the body too).
		again := events[0]
		again.Body = []byte(`{"id":"other"}`)
		step(t, db.DB, func(tx *store.Tx) error { return tx.QueueWebhook(ctx, again) })
		if n, err := db.WebhookQueueDepth(ctx); err != nil || n != 3 {
			t.Fatalf("queue depth %d, %v", n, err)
		}

		jobs, err := db.ClaimWebhooks(ctx, "a", time.Minute, 2)
		if err != nil || len(jobs) != 2 {
			t.Fatalf("claimed %d, %v", len(jobs), err)
		}
		for i, j := range jobs {
			want := events[i]
			if j.ID != want.ID || j.Merchant != "DEMO" || j.Event != want.Event || j.Request != want.Request ||
				!bytes.Equal(j.Body, want.Body) || !j.Created.Equal(want.Created) || j.Attempts != 0 {
				t.Fatalf("job %d: %+v, want %+v", i, j, want)
			}
		}
		// Another dispatcher gets only what is not leased.
		other, err := db.ClaimWebhooks(ctx, "b", time.Minute, 10)
		if err != nil || len(other) != 1 || other[0].ID != events[2].ID {
			t.Fatalf("second claim: %+v, %v", other, err)
		}

		// 0 delivered; 1 failed, due again in 10s; 2 given up.
		if err := db.WebhookDelivered(ctx, events[0].ID, 204); err != nil {
			t.Fatal(err)
		}
		if err := db.WebhookRetry(ctx, events[1].ID, clock.Now().Add(10*time.Second), 500, "HTTP 500 "+strings.Repeat("x", 300)); err != nil {
			t.Fatal(err)
		}
		if err := db.WebhookUndeliverable(ctx, events[2].ID, "the merchant has no webhook URL"); err != nil {
			t.Fatal(err)
		}
		// Ending twice changes nothing; an unknown id is ErrNotFound.
		if err := db.WebhookUndeliverable(ctx, events[0].ID, "late"); err != nil {
			t.Fatal(err)
		}
		if err := db.WebhookRetry(ctx, events[0].ID, clock.Now(), 500, "late"); err != nil {
			t.Fatal(err)
		}
		if err := db.WebhookDelivered(ctx, "nope", 200); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}

		if jobs, err := db.ClaimWebhooks(ctx, "a", time.Minute, 10); err != nil || len(jobs) != 0 {
			t.Fatalf("claimed before the retry is due: %+v, %v", jobs, err)
		}
		clock.Add(10 * time.Second)
		jobs, err = db.ClaimWebhooks(ctx, "a", time.Minute, 10)
		if err != nil || len(jobs) != 1 || jobs[0].ID != events[1].ID || jobs[0].Attempts != 1 {
			t.Fatalf("the retry: %+v, %v", jobs, err)
		}
		// Its dispatcher dies: the lease runs out and another takes it.
		clock.Add(59 * time.Second)
		if jobs, _ := db.ClaimWebhooks(ctx, "b", time.Minute, 10); len(jobs) != 0 {
			t.Fatal("claimed under a live lease")
		}
		clock.Add(2 * time.Second)
		if jobs, _ := db.ClaimWebhooks(ctx, "b", time.Minute, 10); len(jobs) != 1 || jobs[0].ID != events[1].ID {
			t.Fatalf("not claimed after its lease ran out: %+v", jobs)
		}

		states, err := db.Webhooks(ctx, "DEMO")
		if err != nil || len(states) != 3 {
			t.Fatalf("states %+v, %v", states, err)
		}
		if s := states[0]; s.ID != events[0].ID || s.State != store.WebhookStateDelivered || s.Attempts != 1 ||
			s.LastStatus != 204 || s.LastError != "" || s.Ended.IsZero() || !s.NextAt.IsZero() || !bytes.Equal(s.Body, events[0].Body) {
			t.Errorf("delivered: %+v", s)
		}
		if s := states[1]; s.State != store.WebhookStateQueued || s.Attempts != 1 || s.LastStatus != 500 ||
			len(s.LastError) != 200 || !strings.HasPrefix(s.LastError, "HTTP 500 x") || s.LeaseOwner != "b" || !s.Ended.IsZero() {
			t.Errorf("retried: %+v", s)
		}
		if s := states[2]; s.State != store.WebhookStateUndeliverable || s.Attempts != 0 || s.LastStatus != 0 ||
			s.LastError != "the merchant has no webhook URL" || s.Ended.IsZero() {
			t.Errorf("undeliverable: %+v", s)
		}
		if n, err := db.WebhookQueueDepth(ctx); err != nil || n != 1 {
			t.Fatalf("queue depth %d, %v", n, err)
		}
		if states, err := db.Webhooks(ctx, "TEA42"); err != nil || len(states) != 0 {
			t.Fatalf("another merchant's: %+v, %v", states, err)
		}
	})
}

// Dispatchers claiming at once never get the same event, and together
// get them all (FOR UPDATE SKIP LOCKED on PostgreSQL, the one writer on
// SQLite).
func TestWebhookClaimsDisjoint(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		const n = 200
		step(t, db.DB, func(tx *store.Tx) error {
			for i := range n {
				ev := flows.WebhookEvent{ID: fmt.Sprintf("ev-%03d", i), Merchant: "DEMO", Event: "payment_request.completed",
					Request: "r", Body: []byte("{}"), Created: time.Now()}
				if err := tx.QueueWebhook(ctx, ev); err != nil {
					return err
				}
			}
			return nil
		})
		var (
			mu  sync.Mutex
			got []string
			wg  sync.WaitGroup
		)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					jobs, err := db.ClaimWebhooks(ctx, fmt.Sprintf("d%d", w), time.Minute, 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(jobs) == 0 {
						return
					}
					mu.Lock()
					for _, j := range jobs {
						got = append(got, j.ID)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		slices.Sort(got)
		if len(got) != n || len(slices.Compact(slices.Clone(got))) != n {
			t.Fatalf("claimed %d events, %d distinct, of %d", len(got), len(slices.Compact(slices.Clone(got))), n)
		}
	})
}
