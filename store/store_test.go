package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// testKeys are random per test run.
func testKeys(t *testing.T) store.Keys {
	var k store.Keys
	rand.Read(k.DataKey[:])
	return k
}

// postgresDSN returns the DSN of the test PostgreSQL server. Under CI it
// must be set (.ci/run starts the server); elsewhere its absence skips the
// PostgreSQL half of each test.
func postgresDSN(t *testing.T) string {
	dsn := os.Getenv("PAYGATE_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PAYGATE_TEST_POSTGRES is not set under CI")
		}
		t.Skip("PAYGATE_TEST_POSTGRES not set")
	}
	return dsn
}

// freshPostgres makes an empty schema for one test and returns a DSN
// whose search_path is it.
func freshPostgres(t *testing.T) string {
	dsn := postgresDSN(t)
	admin, err := sqlx.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("t%d_%x", time.Now().UnixNano(), randBytes(4))
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := sqlx.Open("pgx", dsn)
		if err == nil {
			a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	sep := "?"
	if bytes.ContainsRune([]byte(dsn), '?') {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// eachDB runs f against a fresh, migrated SQLite and PostgreSQL store.
func eachDB(t *testing.T, f func(t *testing.T, db *store.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "paygate.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, openDB(t, freshPostgres(t)))
	})
}

func openDB(t *testing.T, dsn string) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{Keys: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if applied, err := db.Migrate(ctx); err != nil || len(applied) == 0 {
		t.Fatal(applied, err)
	}
	if applied, err := db.Migrate(ctx); err != nil || len(applied) != 0 { // idempotent
		t.Fatalf("second migrate: %v %v", applied, err)
	}
	return db
}

var ctx = context.Background()

func queue(t *testing.T, db *store.DB, phone flows.MSISDN, text string, sensitive bool) {
	t.Helper()
	err := db.Step(ctx, func(tx *store.Tx) error {
		return tx.QueueSMS(ctx, flows.OutSMS{To: phone, From: "3030", Text: text, Sensitive: sensitive})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// leaseSet is a test's in-memory lease.
type leaseSet struct {
	mu  sync.Mutex
	ids map[int64]bool
}

func (l *leaseSet) Has(id int64) bool { l.mu.Lock(); defer l.mu.Unlock(); return l.ids[id] }
func (l *leaseSet) Len() int          { l.mu.Lock(); defer l.mu.Unlock(); return len(l.ids) }

var noneInFlight = &leaseSet{}

func plainKeys(id string) []string { return []string{id} }

func TestSubscribers(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		now := time.UnixMicro(time.Now().UnixMicro())
		err := db.Step(ctx, func(tx *store.Tx) error {
			if _, err := tx.Subscriber(ctx, "+8613800138000"); !errors.Is(err, flows.ErrNotFound) {
				return fmt.Errorf("lookup of a new phone: %v", err)
			}
			return tx.SaveSubscriber(ctx, flows.Subscriber{Phone: "+8613800138000", Lang: flows.Chinese, Created: now})
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Step(ctx, func(tx *store.Tx) error {
			s, err := tx.Subscriber(ctx, "+8613800138000")
			if err != nil {
				return err
			}
			if s.Lang != flows.Chinese || !s.Created.Equal(now) {
				return fmt.Errorf("got %+v", s)
			}
			s.Lang = flows.English
			return tx.SaveSubscriber(ctx, s)
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// A step that fails leaves nothing behind, and does not take the steps
// committed with it (the same group commit on SQLite) down with it.
func TestFailingStepRollsBackAlone(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		var wg sync.WaitGroup
		errs := make([]error, 200)
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.Step(ctx, func(tx *store.Tx) error {
					phone := flows.MSISDN(fmt.Sprintf("+86138%08d", i))
					if err := tx.QueueSMS(ctx, flows.OutSMS{To: phone, From: "3030", Text: "x"}); err != nil {
						return err
					}
					if i%3 == 0 {
						return fmt.Errorf("step %d refuses", i)
					}
					if i%7 == 0 {
						panic("step panics")
					}
					return nil
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			phone := flows.MSISDN(fmt.Sprintf("+86138%08d", i))
			mts, qerr := db.MTs(ctx, phone)
			if qerr != nil {
				t.Fatal(qerr)
			}
			fails := i%3 == 0 || i%7 == 0
			if fails != (err != nil) || fails != (len(mts) == 0) {
				t.Fatalf("step %d: err %v, %d rows", i, err, len(mts))
			}
		}
		if st := db.Stats(); db.Dialect() == "sqlite3" && st.Commits >= st.Steps {
			t.Fatalf("no group commit: %d commits for %d steps", st.Commits, st.Steps)
		}
	})
}

// Inbound dedupe per SPEC §5.5: the same message within dedupe_window is
// recorded once; after the window it is a new message.
func TestInboxDedupe(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		t0 := time.Now()
		// prompt is the phone's prompt each message leaves it at.
		prompt := ""
		record := func(identity string, at time.Time) bool {
			var isNew bool
			err := db.Step(ctx, func(tx *store.Tx) error {
				in := store.Inbound{Bind: "a", Phone: "+8613800138000", Dest: "3030", Text: "HELP", Identity: []byte(identity), At: at}
				var err error
				if isNew, err = tx.RecordInbound(ctx, in, 10*time.Minute); err != nil || !isNew {
					return err
				}
				sub := flows.Subscriber{Phone: "+8613800138000", Created: t0}
				if prompt != "" {
					sub.Pending = &flows.Pending{ID: prompt, Kind: flows.OpSend, Stage: flows.StagePIN, Created: at, Expires: at.Add(time.Hour)}
				}
				if err := tx.SaveSubscriber(ctx, sub); err != nil {
					return err
				}
				return tx.SeenState(ctx, in)
			})
			if err != nil {
				t.Fatal(err)
			}
			return isNew
		}
		if !record("m1", t0) {
			t.Fatal("first delivery not new")
		}
		if record("m1", t0.Add(time.Second)) || record("m1", t0.Add(9*time.Minute)) {
			t.Fatal("redelivery within the window taken as new")
		}
		if !record("m2", t0.Add(time.Second)) {
			t.Fatal("another message taken as a duplicate")
		}
		if !record("m1", t0.Add(30*time.Minute)) {
			t.Fatal("the same text after the window is a new message")
		}
		// The phone moves on (m3 leaves a prompt): the same text again
		// (a second payment's OK <PIN>) is a new message, inside the
		// window; its copy, at the prompt it left, is a duplicate.
		prompt = "T1"
		if !record("m3", t0.Add(31*time.Minute)) {
			t.Fatal("a new text not new")
		}
		if !record("m1", t0.Add(32*time.Minute)) {
			t.Fatal("the same text at another prompt is a duplicate")
		}
		if record("m1", t0.Add(33*time.Minute)) {
			t.Fatal("a copy at the prompt its first left is new")
		}
		if n, _ := db.InboxCount(ctx); n != 5 {
			t.Fatalf("inbox holds %d", n)
		}
	})
}

// Each phone's MTs leave in order: only the oldest queued MT of a phone
// is claimable.
func TestClaimKeepsPhoneOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		for i := range 3 {
			queue(t, db, "+8613800000001", fmt.Sprint("a", i), false)
		}
		queue(t, db, "+8613800000002", "b0", false)
		now := time.Now().Add(time.Second)
		got, err := db.ClaimMT(ctx, "d1", now, time.Minute, 10, noneInFlight)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Body != "a0" || got[1].Body != "b0" {
			t.Fatalf("claimed %+v", got)
		}
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.MTSent(ctx, got[0].ID, "a", []string{"1"}, plainKeys, now) }); err != nil {
			t.Fatal(err)
		}
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.MTSent(ctx, got[1].ID, "a", []string{"2"}, plainKeys, now) }); err != nil {
			t.Fatal(err)
		}
		got, err = db.ClaimMT(ctx, "d1", now, time.Minute, 10, noneInFlight)
		if err != nil || len(got) != 1 || got[0].Body != "a1" {
			t.Fatalf("claimed %+v, %v", got, err)
		}
	})
}

// Two dispatchers racing for the same rows never send one twice at once
// (PostgreSQL: SKIP LOCKED leases; SQLite: the one process's in-memory
// lease).
func TestDispatchersRace(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		const phones = 300
		for i := range phones {
			queue(t, db, flows.MSISDN(fmt.Sprintf("+86138%08d", i)), "x", false)
		}
		var mu sync.Mutex
		held := &leaseSet{ids: map[int64]bool{}}
		taken := map[int64]string{}
		var dup []int64
		var wg sync.WaitGroup
		for _, owner := range []string{"d1", "d2", "d3"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					// On SQLite the in-memory lease is shared by the process.
					rows, err := db.ClaimMT(ctx, owner, time.Now().Add(time.Second), time.Minute, 7, held)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					held.mu.Lock()
					for _, r := range rows {
						if db.Dialect() == "sqlite3" && held.ids[r.ID] {
							continue // another claim took it first; the in-memory lease drops it
						}
						if _, ok := taken[r.ID]; ok {
							dup = append(dup, r.ID)
						}
						taken[r.ID] = owner
						held.ids[r.ID] = true
					}
					held.mu.Unlock()
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(dup) > 0 {
			t.Fatalf("%d rows claimed twice: %v", len(dup), dup)
		}
		if len(taken) != phones {
			t.Fatalf("%d of %d rows claimed", len(taken), phones)
		}
		owners := map[string]int{}
		for _, o := range taken {
			owners[o]++
		}
		t.Logf("claims by owner: %v", owners)
	})
}

// A lease that runs out (its dispatcher died) makes the row claimable
// again on PostgreSQL.
func TestExpiredLeaseReclaimed(t *testing.T) {
	db := openDB(t, freshPostgres(t))
	queue(t, db, "+8613800138000", "x", false)
	now := time.Now().Add(time.Second)
	first, err := db.ClaimMT(ctx, "dead", now, time.Minute, 10, noneInFlight)
	if err != nil || len(first) != 1 {
		t.Fatal(first, err)
	}
	if again, _ := db.ClaimMT(ctx, "d2", now.Add(30*time.Second), time.Minute, 10, noneInFlight); len(again) != 0 {
		t.Fatal("claimed under a live lease")
	}
	again, err := db.ClaimMT(ctx, "d2", now.Add(2*time.Minute), time.Minute, 10, noneInFlight)
	if err != nil || len(again) != 1 || again[0].ID != first[0].ID {
		t.Fatalf("not reclaimed: %+v %v", again, err)
	}
}

// Receipts find their MT by any key of the SMSC id and end a multi-part
// MT only when every part has a final state; a sensitive text is erased
// then.
func TestReceiptsEndMT(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		canary := "CODE-739164"
		queue(t, db, "+8613800138000", canary, true)
		now := time.Now().Add(time.Second)
		rows, err := db.ClaimMT(ctx, "d", now, time.Minute, 10, noneInFlight)
		if err != nil || len(rows) != 1 {
			t.Fatal(rows, err)
		}
		if rows[0].Body != "" {
			t.Fatal("sensitive text stored in clear")
		}
		if text, err := db.Text(rows[0]); err != nil || text != canary {
			t.Fatalf("opened %q, %v", text, err)
		}
		hexdec := func(id string) []string {
			return map[string][]string{"1A2B": {"1a2b", "6699"}, "FF": {"ff", "255"}}[id]
		}
		if err := db.Step(ctx, func(tx *store.Tx) error {
			return tx.MTSent(ctx, rows[0].ID, "carrier-a", []string{"1A2B", "FF"}, hexdec, now)
		}); err != nil {
			t.Fatal(err)
		}
		receipt := func(key string, state int, final bool) (int64, bool) {
			var id int64
			var found bool
			err := db.Step(ctx, func(tx *store.Tx) error {
				var err error
				id, found, err = tx.MTReceipt(ctx, "carrier-a", []string{key}, state, final, now)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return id, found
		}
		if _, found := receipt("1a2b", 2, true); !found {
			t.Fatal("receipt by hex key not found")
		}
		if _, found := receipt("999", 2, true); found {
			t.Fatal("unknown id found")
		}
		if _, found := receipt("1a2b", 2, true); !found { // a duplicate receipt
			t.Fatal("repeated receipt not found")
		}
		mts, _ := db.MTs(ctx, "+8613800138000")
		if mts[0].State != "sent" {
			t.Fatalf("one of two parts ended the MT: %s", mts[0].State)
		}
		receipt("255", 1, false) // ENROUTE: not final
		if mts, _ := db.MTs(ctx, "+8613800138000"); mts[0].State != "sent" {
			t.Fatalf("an intermediate receipt ended the MT: %s", mts[0].State)
		}
		receipt("255", 2, true)
		if mts, _ := db.MTs(ctx, "+8613800138000"); mts[0].State != store.MTDelivered {
			t.Fatalf("state %s", mts[0].State)
		}
		if rows, _ := db.ClaimMT(ctx, "d", now, time.Minute, 10, noneInFlight); len(rows) != 0 {
			t.Fatal("delivered MT claimable")
		}
	})
}

func TestRetryAndFail(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		queue(t, db, "+8613800138000", "a", false)
		queue(t, db, "+8613800138000", "b", false)
		now := time.Now().Add(time.Second)
		rows, _ := db.ClaimMT(ctx, "d", now, time.Minute, 10, noneInFlight)
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.MTRetry(ctx, rows[0].ID, now.Add(time.Minute), "throttled") }); err != nil {
			t.Fatal(err)
		}
		if rows, _ := db.ClaimMT(ctx, "d", now, time.Minute, 10, noneInFlight); len(rows) != 0 {
			t.Fatalf("claimed %+v before the retry time (b must wait behind a)", rows)
		}
		rows, _ = db.ClaimMT(ctx, "d", now.Add(2*time.Minute), time.Minute, 10, noneInFlight)
		if len(rows) != 1 || rows[0].Body != "a" || rows[0].Attempts != 1 {
			t.Fatalf("claimed %+v", rows)
		}
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.MTFailed(ctx, rows[0].ID, "invalid destination", now) }); err != nil {
			t.Fatal(err)
		}
		rows, _ = db.ClaimMT(ctx, "d", now.Add(2*time.Minute), time.Minute, 10, noneInFlight)
		if len(rows) != 1 || rows[0].Body != "b" {
			t.Fatalf("a failed MT must not hold the phone's queue: %+v", rows)
		}
	})
}

func TestParts(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		canary := []byte("OK 493817")
		if _, done, err := db.AddPart(ctx, "k", 2, 2, []byte(" tail")); err != nil || done {
			t.Fatal(done, err)
		}
		if _, done, _ := db.AddPart(ctx, "k", 2, 2, []byte(" tail")); done {
			t.Fatal("a repeated part completed the message")
		}
		parts, done, err := db.AddPart(ctx, "k", 1, 2, canary)
		if err != nil || !done || string(bytes.Join(parts, nil)) != "OK 493817 tail" {
			t.Fatalf("%q %v %v", parts, done, err)
		}
		if _, done, _ := db.AddPart(ctx, "k", 2, 2, []byte(" tail")); !done {
			t.Fatal("complete set forgotten before ForgetParts")
		}
		if err := db.ForgetParts(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, done, _ := db.AddPart(ctx, "k", 2, 2, []byte(" tail")); done {
			t.Fatal("ForgetParts kept the set")
		}
	})
}

// A store that is gone answers ErrUnavailable, which the inbound router
// turns into ESME_RX_T_APPN.
func TestUnavailable(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		db.Close()
		err := db.Step(ctx, func(tx *store.Tx) error { return nil })
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("err %v", err)
		}
	})
}

// An MT queued for a phone with nothing else queued is leased at insert
// and handed over after the commit; one queued behind it waits its turn,
// and neither is claimable meanwhile.
func TestQueuedHandOff(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		var mu sync.Mutex
		var handed []store.MT
		db.OnQueued("me", time.Minute, func(m []store.MT) { mu.Lock(); handed = append(handed, m...); mu.Unlock() })
		queue(t, db, "+8613800000001", "first", false)
		queue(t, db, "+8613800000001", "second", false)
		queue(t, db, "+8613800000002", "other", true)
		mu.Lock()
		got := handed
		mu.Unlock()
		if len(got) != 2 || got[0].Body != "first" || got[1].Sealed == nil {
			t.Fatalf("handed over %+v", got)
		}
		if text, err := db.Text(got[1]); err != nil || text != "other" {
			t.Fatalf("sealed text %q %v", text, err)
		}
		now := time.Now().Add(time.Second)
		if rows, _ := db.ClaimMT(ctx, "someone-else", now, time.Minute, 10, noneInFlight); len(rows) != 0 {
			t.Fatalf("claimed %+v under a hand-off lease", rows)
		}
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.MTSent(ctx, got[0].ID, "a", []string{"1"}, plainKeys, now) }); err != nil {
			t.Fatal(err)
		}
		rows, _ := db.ClaimMT(ctx, "someone-else", now, time.Minute, 10, noneInFlight)
		if len(rows) != 1 || rows[0].Body != "second" {
			t.Fatalf("claimed %+v after the first left", rows)
		}
	})
}

// TestExpireSealed: a code SMS's sealed text is erased once its code is
// dead, whether or not a receipt came; one still queued then fails.
func TestExpireSealed(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		queue(t, db, "+8613800138000", "code 111111", true)
		queue(t, db, "+8613900139000", "code 222222", true)
		queue(t, db, "+8613700137000", "hello", false)
		now := time.Now().Add(time.Second)
		rows, err := db.ClaimMT(ctx, "d", now, time.Minute, 10, noneInFlight)
		if err != nil || len(rows) != 3 {
			t.Fatal(rows, err)
		}
		var sent int64
		for _, r := range rows {
			if r.Phone == "+8613800138000" {
				sent = r.ID
			}
		}
		if err := db.Step(ctx, func(tx *store.Tx) error {
			return tx.MTSent(ctx, sent, "carrier-a", []string{"77"}, func(string) []string { return []string{"77"} }, now)
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.ReleaseLeases(ctx); err != nil { // the other two: queued, not being sent
			t.Fatal(err)
		}
		if n, err := db.ExpireSealed(ctx, now.Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("erased %d live codes, %v", n, err)
		}
		if n, err := db.ExpireSealed(ctx, now.Add(time.Hour)); err != nil || n != 2 {
			t.Fatalf("erased %d, %v; want 2", n, err)
		}
		for phone, want := range map[flows.MSISDN]string{"+8613800138000": "sent", "+8613900139000": "failed", "+8613700137000": "queued"} {
			mts, _ := db.MTs(ctx, phone)
			if len(mts) != 1 || mts[0].State != want || mts[0].Sealed {
				t.Errorf("%s: %+v, want %s and nothing sealed", phone, mts, want)
			}
		}
	})
}
