package store_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time         { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration)    { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *testClock                  { return &testClock{t: time.UnixMicro(time.Now().UnixMicro())} }
func (c *testClock) options() store.Options { return store.Options{Now: c.Now} }

// rawDB is a store opened for a test together with what lets the test
// look under it: a second connection of its own, and on SQLite the path
// of the database file (its -wal and -shm sit next to it).
type rawDB struct {
	*store.DB
	raw  *sqlx.DB
	path string // SQLite only
}

// eachRawDB runs f against a fresh, migrated SQLite and PostgreSQL store
// opened with opts (their Keys filled in).
func eachRawDB(t *testing.T, opts store.Options, f func(t *testing.T, db rawDB)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "paygate.db")
		db := openRaw(t, "sqlite:"+path, opts)
		raw, err := sqlx.Open("sqlite3", "file:"+path+"?_query_only=true&_busy_timeout=5000")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		f(t, rawDB{DB: db, raw: raw, path: path})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := freshPostgres(t)
		db := openRaw(t, dsn, opts)
		raw, err := sqlx.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		f(t, rawDB{DB: db, raw: raw})
	})
}

func openRaw(t *testing.T, dsn string, opts store.Options) *store.DB {
	t.Helper()
	opts.Keys = testKeys(t)
	db, err := store.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// step runs fn as one step and fails the test on its error.
func step(t *testing.T, db *store.DB, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := db.Step(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

// utc is a time as it comes back from the sealed state (JSON, UTC).
func utc(t time.Time) time.Time { return t.UTC() }

// The whole subscriber comes back as it was saved: PIN hash, STOP, the
// lockout, the code budget, and a pending prompt with its account number
// and code MAC; the lockout columns mirror the sealed state.
func TestSubscriberStateRoundTrip(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		now := time.UnixMicro(time.Now().UnixMicro()).UTC()
		phone := flows.MSISDN("+8613800138000")
		want := flows.Subscriber{
			Phone:   phone,
			Lang:    flows.Chinese,
			Created: now,
			PIN:     "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
			Lock:    flows.Lock{Failures: 4, Until: now.Add(15 * time.Minute), Operator: true, Pending: 1, Reserved: now.Add(-time.Second)},
			Codes:   flows.CodeBudget{Sent: []time.Time{now.Add(-time.Minute), now}},
			Stopped: true,
			Pending: &flows.Pending{
				ID: "link-0001", Kind: flows.OpLink, Stage: flows.StageCode, Bank: "PGB", Account: "6222020200112233445",
				Holder:    "Z**** S**",
				Challenge: flows.Challenge{MAC: flows.CodeMAC{1, 2, 3, 0xfe}, Issued: now, Expires: now.Add(5 * time.Minute), Sends: 2},
				Created:   now.Add(-time.Minute), Expires: now.Add(4 * time.Minute), Bind: "carrier-a",
			},
			Last: &flows.Pending{
				ID: "pay-0009", Kind: flows.OpPay, Stage: flows.StageCode,
				Challenge: flows.Challenge{MAC: flows.CodeMAC{9}, Issued: now.Add(-time.Hour), Used: now.Add(-50 * time.Minute), Sends: 1},
				Created:   now.Add(-time.Hour), Expires: now.Add(-55 * time.Minute),
			},
		}
		step(t, db.DB, func(tx *store.Tx) error { return tx.SaveSubscriber(ctx, want) })
		var got flows.Subscriber
		step(t, db.DB, func(tx *store.Tx) error {
			var err error
			got, err = tx.Subscriber(ctx, phone)
			return err
		})
		if !got.Created.Equal(want.Created) {
			t.Fatalf("created %v, want %v", got.Created, want.Created)
		}
		got.Created = want.Created
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got\n%#v\nwant\n%#v\npending %#v\nwant    %#v", got, want, *got.Pending, *want.Pending)
		}
		if got.Pending.Account.Reveal() != "6222020200112233445" {
			t.Fatal("account number lost")
		}

		var mirror struct {
			Failures int    `db:"failures"`
			Until    int64  `db:"locked_until"`
			Operator int    `db:"operator_locked"`
			Stopped  int    `db:"stopped"`
			PIN      string `db:"pin_hash"`
		}
		if err := db.raw.Get(&mirror, db.raw.Rebind(`SELECT failures, locked_until, operator_locked, stopped, pin_hash FROM subscribers WHERE phone = ?`), string(phone)); err != nil {
			t.Fatal(err)
		}
		if mirror.Failures != 4 || mirror.Until != want.Lock.Until.UnixMicro() || mirror.Operator != 1 || mirror.Stopped != 1 || mirror.PIN != want.PIN.Reveal() {
			t.Fatalf("columns %+v", mirror)
		}

		// Clearing everything clears the columns and the state.
		got.Lock, got.Codes, got.Pending, got.Last, got.Stopped, got.PIN = flows.Lock{}, flows.CodeBudget{}, nil, nil, false, ""
		step(t, db.DB, func(tx *store.Tx) error { return tx.SaveSubscriber(ctx, got) })
		step(t, db.DB, func(tx *store.Tx) error {
			s, err := tx.Subscriber(ctx, phone)
			if err != nil {
				return err
			}
			if s.Pending != nil || s.Last != nil || s.Lock != (flows.Lock{}) || len(s.Codes.Sent) != 0 || s.Stopped || s.PIN != "" || s.Lang != flows.Chinese {
				return fmt.Errorf("cleared subscriber reads %#v", s)
			}
			return nil
		})
		var n int
		if err := db.raw.Get(&n, db.raw.Rebind(`SELECT COUNT(*) FROM subscribers WHERE phone = ? AND state IS NULL AND failures = 0 AND locked_until = 0 AND operator_locked = 0`), string(phone)); err != nil || n != 1 {
			t.Fatalf("a zero state is not stored as NULL with zero columns: %d %v", n, err)
		}
	})
}

// Steps of one phone run one after the other, on PostgreSQL across
// transactions too (Subscriber locks the row): no update is lost.
func TestSubscriberStepsSerialize(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		phone := flows.MSISDN("+8613800138000")
		step(t, db, func(tx *store.Tx) error {
			return tx.SaveSubscriber(ctx, flows.Subscriber{Phone: phone, Created: time.Now()})
		})
		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- db.Step(ctx, func(tx *store.Tx) error {
					s, err := tx.Subscriber(ctx, phone)
					if err != nil {
						return err
					}
					s.Lock.Failures++
					return tx.SaveSubscriber(ctx, s)
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		step(t, db, func(tx *store.Tx) error {
			s, err := tx.Subscriber(ctx, phone)
			if err == nil && s.Lock.Failures != n {
				err = fmt.Errorf("%d failures counted, want %d", s.Lock.Failures, n)
			}
			return err
		})
	})
}

// Accounts link, list in link order with their numbers opened, change
// their default and holder, and unlink; one account links to a phone
// once, and a second link is a detectable ErrDuplicate that leaves the
// step usable.
func TestAccounts(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		phone, other := flows.MSISDN("+8613800138000"), flows.MSISDN("+8613900139000")
		linked := time.UnixMicro(time.Now().UnixMicro())
		a1 := flows.Account{Bank: "PGB", Number: "6222020200112233445", Holder: "Z**** S**", Default: true, Linked: linked}
		a2 := flows.Account{Bank: "ICB", Number: "12345", Holder: "L* S*"}
		step(t, db.DB, func(tx *store.Tx) error {
			if err := tx.SaveAccount(ctx, phone, &a1); err != nil {
				return err
			}
			return tx.SaveAccount(ctx, phone, &a2)
		})
		if a1.ID == 0 || a2.ID <= a1.ID || a2.Linked.IsZero() {
			t.Fatalf("ids %d %d, linked %v", a1.ID, a2.ID, a2.Linked)
		}
		list := func(phone flows.MSISDN) []flows.Account {
			t.Helper()
			var out []flows.Account
			step(t, db.DB, func(tx *store.Tx) error {
				var err error
				out, err = tx.Accounts(ctx, phone)
				return err
			})
			return out
		}
		got := list(phone)
		if len(got) != 2 || got[0].ID != a1.ID || got[0].Number != a1.Number || got[0].Bank != "PGB" || got[0].Holder != a1.Holder ||
			!got[0].Default || !got[0].Linked.Equal(linked) || got[1].Number != "12345" || got[1].Default || !got[1].Linked.Equal(a2.Linked) {
			t.Fatalf("listed %+v", got)
		}
		if got := list(other); len(got) != 0 {
			t.Fatalf("another phone lists %+v", got)
		}
		var masked []string
		if err := db.raw.Select(&masked, db.raw.Rebind(`SELECT masked FROM accounts WHERE phone = ? ORDER BY id`), string(phone)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(masked, []string{"****3445", "****"}) {
			t.Fatalf("masked %q", masked)
		}

		// The same account again: refused, and the step goes on.
		step(t, db.DB, func(tx *store.Tx) error {
			again := flows.Account{Bank: "PGB", Number: "6222020200112233445", Holder: "other"}
			if err := tx.SaveAccount(ctx, phone, &again); !errors.Is(err, store.ErrDuplicate) || again.ID != 0 {
				return fmt.Errorf("second link: %v, id %d", err, again.ID)
			}
			if accts, err := tx.Accounts(ctx, phone); err != nil || len(accts) != 2 {
				return fmt.Errorf("after a duplicate: %d accounts, %v", len(accts), err)
			}
			return tx.SaveSubscriber(ctx, flows.Subscriber{Phone: phone, Created: time.Now()})
		})
		// The same number at another bank, or on another phone, is another link.
		step(t, db.DB, func(tx *store.Tx) error {
			if err := tx.SaveAccount(ctx, phone, &flows.Account{Bank: "ICB", Number: "6222020200112233445"}); err != nil {
				return err
			}
			return tx.SaveAccount(ctx, other, &flows.Account{Bank: "PGB", Number: "6222020200112233445"})
		})

		// The default moves; the holder changes.
		a1.Default, a2.Default, a2.Holder = false, true, "L* S**"
		a2.Number = "ignored" // the number of a link never changes
		step(t, db.DB, func(tx *store.Tx) error {
			if err := tx.SaveAccount(ctx, phone, &a1); err != nil {
				return err
			}
			return tx.SaveAccount(ctx, phone, &a2)
		})
		got = list(phone)
		if len(got) != 3 || got[0].Default || !got[1].Default || got[1].Holder != "L* S**" || got[1].Number != "12345" {
			t.Fatalf("after update %+v", got)
		}
		// Another phone's account is not found, nor changed, nor unlinked.
		step(t, db.DB, func(tx *store.Tx) error {
			if err := tx.SaveAccount(ctx, other, &a1); !errors.Is(err, flows.ErrNotFound) {
				return fmt.Errorf("updating another phone's account: %v", err)
			}
			return tx.DeleteAccount(ctx, other, a1.ID)
		})
		if got := list(phone); len(got) != 3 {
			t.Fatalf("another phone unlinked: %+v", got)
		}

		step(t, db.DB, func(tx *store.Tx) error { return tx.DeleteAccount(ctx, phone, a1.ID) })
		step(t, db.DB, func(tx *store.Tx) error { return tx.DeleteAccount(ctx, phone, a1.ID) }) // twice: nothing to do
		got = list(phone)
		if len(got) != 2 || got[0].ID != a2.ID {
			t.Fatalf("after unlink %+v", got)
		}
		// Unlinked, the account may be linked again.
		relink := flows.Account{Bank: "PGB", Number: "6222020200112233445"}
		step(t, db.DB, func(tx *store.Tx) error { return tx.SaveAccount(ctx, phone, &relink) })
		if relink.ID <= a2.ID {
			t.Fatalf("relinked with id %d", relink.ID)
		}
	})
}

// The bank outbox: queue (signalled after commit) → claim (leased: a
// second claim gets nothing) → retry (not before its time, attempts
// counted) → claim again → done (the sealed request erased).
func TestBankOutbox(t *testing.T) {
	clock := newClock()
	eachRawDB(t, clock.options(), func(t *testing.T, db rawDB) {
		phone := flows.MSISDN("+8613800138000")
		expires := clock.Now().Add(10 * time.Minute).UTC()
		r1 := flows.BankRequest{ID: fmt.Sprintf("v-%x", randBytes(6)), Phone: phone, Kind: flows.BankVerify, Bank: "PGB", Account: "6222020200112233445", Expires: expires}
		r2 := flows.BankRequest{ID: fmt.Sprintf("v-%x", randBytes(6)), Phone: phone, Kind: flows.BankVerify, Bank: "ICB", Account: "12345678", Expires: expires}

		step(t, db.DB, func(tx *store.Tx) error { return tx.QueueBank(ctx, r1) })
		select {
		case <-db.BankSignal():
		default:
			t.Fatal("no signal after queueing")
		}
		clock.Add(time.Second)
		step(t, db.DB, func(tx *store.Tx) error {
			if err := tx.QueueBank(ctx, r1); !errors.Is(err, store.ErrDuplicate) {
				return fmt.Errorf("queueing an id twice: %v", err)
			}
			return tx.QueueBank(ctx, r2) // the step goes on
		})
		if err := db.Step(ctx, func(tx *store.Tx) error {
			if err := tx.QueueBank(ctx, flows.BankRequest{ID: "rolled-back", Phone: phone, Kind: flows.BankVerify}); err != nil {
				return err
			}
			return errors.New("refused")
		}); err == nil {
			t.Fatal("refusing step committed")
		}
		<-db.BankSignal()
		if n, err := db.BankQueueDepth(ctx); err != nil || n != 2 {
			t.Fatalf("depth %d %v", n, err)
		}

		jobs, err := db.ClaimBank(ctx, "d1", time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 2 || !reflect.DeepEqual(jobs[0].Request, r1) || !reflect.DeepEqual(jobs[1].Request, r2) || jobs[0].Attempts != 0 {
			t.Fatalf("claimed %+v", jobs)
		}
		if again, err := db.ClaimBank(ctx, "d2", time.Minute, 10); err != nil || len(again) != 0 {
			t.Fatalf("claimed %+v under a live lease, %v", again, err)
		}

		if err := db.Step(ctx, func(tx *store.Tx) error {
			return tx.BankRetry(ctx, r1.ID, clock.Now().Add(30*time.Second), "bank: 503")
		}); err != nil {
			t.Fatal(err)
		}
		if again, _ := db.ClaimBank(ctx, "d2", time.Minute, 10); len(again) != 0 {
			t.Fatalf("claimed %+v before the retry time", again)
		}
		clock.Add(31 * time.Second)
		jobs, err = db.ClaimBank(ctx, "d2", time.Minute, 10)
		if err != nil || len(jobs) != 1 || jobs[0].Request.ID != r1.ID || jobs[0].Attempts != 1 {
			t.Fatalf("after the retry time claimed %+v, %v", jobs, err)
		}
		states, err := db.BankRequests(ctx, phone)
		if err != nil || len(states) != 2 || states[0].LastError != "bank: 503" || states[0].LeaseOwner != "d2" || states[1].LeaseOwner != "d1" ||
			!states[0].Sealed || states[0].Kind != flows.BankVerify {
			t.Fatalf("states %+v, %v", states, err)
		}

		// The answer to r1 comes back: its step ends it.
		step(t, db.DB, func(tx *store.Tx) error { return tx.BankDone(ctx, r1.ID) })
		step(t, db.DB, func(tx *store.Tx) error { return tx.BankDone(ctx, r1.ID) }) // an answer applied twice
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.BankDone(ctx, "nobody") }); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("ending an unknown request: %v", err)
		}
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.BankRetry(ctx, r1.ID, clock.Now(), "late") }); err != nil {
			t.Fatal(err)
		}
		states, _ = db.BankRequests(ctx, phone)
		if states[0].State != "done" || states[0].Sealed || states[0].LeaseOwner != "" || states[0].Attempts != 1 || states[0].LastError != "bank: 503" {
			t.Fatalf("done request %+v", states[0])
		}
		var payloads int
		if err := db.raw.Get(&payloads, db.raw.Rebind(`SELECT COUNT(*) FROM bank_outbox WHERE id = ? AND payload IS NULL AND done_at > 0 AND lease_until = 0`), r1.ID); err != nil || payloads != 1 {
			t.Fatalf("done row keeps its payload or lease: %d %v", payloads, err)
		}

		// r2's lease (d1, a minute) runs out: claimable again.
		if again, _ := db.ClaimBank(ctx, "d3", time.Minute, 10); len(again) != 0 {
			t.Fatalf("claimed %+v under d1's lease", again)
		}
		clock.Add(30 * time.Second)
		jobs, err = db.ClaimBank(ctx, "d3", time.Minute, 10)
		if err != nil || len(jobs) != 1 || jobs[0].Request.ID != r2.ID {
			t.Fatalf("expired lease not reclaimed: %+v %v", jobs, err)
		}
		// ReleaseLeases (a restart) frees it at once.
		if err := db.ReleaseLeases(ctx); err != nil {
			t.Fatal(err)
		}
		jobs, err = db.ClaimBank(ctx, "d4", time.Minute, 10)
		if err != nil || len(jobs) != 1 || jobs[0].Request.ID != r2.ID {
			t.Fatalf("released lease not reclaimed: %+v %v", jobs, err)
		}
		if n, _ := db.BankQueueDepth(ctx); n != 1 {
			t.Fatalf("depth %d", n)
		}
	})
}

// Dispatchers racing for bank requests never take one at once.
func TestBankClaimRace(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		const n = 200
		ids := map[string]bool{}
		step(t, db, func(tx *store.Tx) error {
			for i := range n {
				id := fmt.Sprintf("r%03d", i)
				ids[id] = true
				if err := tx.QueueBank(ctx, flows.BankRequest{ID: id, Phone: "+8613800138000", Kind: flows.BankVerify}); err != nil {
					return err
				}
			}
			return nil
		})
		var mu sync.Mutex
		taken := map[string]string{}
		var dup []string
		var wg sync.WaitGroup
		for _, owner := range []string{"d1", "d2", "d3", "d4"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 30 {
					jobs, err := db.ClaimBank(ctx, owner, time.Hour, 3)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, j := range jobs {
						if _, ok := taken[j.Request.ID]; ok {
							dup = append(dup, j.Request.ID)
						}
						taken[j.Request.ID] = owner
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(dup) > 0 || len(taken) != n {
			t.Fatalf("%d claimed, %d twice: %v", len(taken), len(dup), dup)
		}
	})
}

// SPEC.md §2, §4: an account number never reaches the database in clear —
// not in an account row, not in a pending prompt in the subscriber's
// state, not in a bank request — and neither do a one-time code in a
// queued SMS or a PIN in a part of a concatenated message. On SQLite every
// file of the database is searched (database, -wal, -shm), open and after
// close; on PostgreSQL every row of every table, as text.
func TestSecretsNeverStoredInClear(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		account := flows.AccountNumber("6222027391648355017")
		code := "CODE-739164"
		pin := "OK 493817"
		phone := flows.MSISDN("+8613800138000")
		now := time.Now()
		step(t, db.DB, func(tx *store.Tx) error {
			if err := tx.SaveAccount(ctx, phone, &flows.Account{Bank: "PGB", Number: account, Holder: "Z**** S**", Default: true}); err != nil {
				return err
			}
			s := flows.Subscriber{Phone: phone, Created: now, Pending: &flows.Pending{
				ID: "link-1", Kind: flows.OpLink, Stage: flows.StageBank, Bank: "PGB", Account: account, Created: now, Expires: now.Add(flows.PendingTTL),
			}}
			if err := tx.SaveSubscriber(ctx, s); err != nil {
				return err
			}
			if err := tx.QueueBank(ctx, flows.BankRequest{ID: "link-1", Phone: phone, Kind: flows.BankVerify, Bank: "PGB", Account: account, Expires: now.Add(flows.PendingTTL)}); err != nil {
				return err
			}
			return tx.QueueSMS(ctx, flows.OutSMS{To: phone, From: "3030", Text: code, Sensitive: true})
		})
		if _, _, err := db.AddPart(ctx, "k", 1, 2, []byte(pin)); err != nil {
			t.Fatal(err)
		}
		// Everything reads back.
		step(t, db.DB, func(tx *store.Tx) error {
			accts, err := tx.Accounts(ctx, phone)
			if err != nil || len(accts) != 1 || accts[0].Number != account {
				return fmt.Errorf("accounts %+v, %v", accts, err)
			}
			s, err := tx.Subscriber(ctx, phone)
			if err != nil || s.Pending == nil || s.Pending.Account != account {
				return fmt.Errorf("subscriber %+v, %v", s, err)
			}
			return nil
		})
		jobs, err := db.ClaimBank(ctx, "d", time.Minute, 10)
		if err != nil || len(jobs) != 1 || jobs[0].Request.Account != account {
			t.Fatalf("claimed %+v, %v", jobs, err)
		}

		canaries := []string{account.Reveal(), code, pin}
		if db.path != "" {
			searchFiles(t, db.path, canaries)
			db.Close()
			searchFiles(t, db.path, canaries)
			return
		}
		var tables []string
		if err := db.raw.Select(&tables, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`); err != nil {
			t.Fatal(err)
		}
		if len(tables) < 5 {
			t.Fatalf("tables %v", tables)
		}
		for _, table := range tables {
			var rows []string
			if err := db.raw.Select(&rows, `SELECT t::text FROM `+table+` t`); err != nil {
				t.Fatal(err)
			}
			for _, row := range rows {
				for _, c := range canaries {
					if bytes.Contains([]byte(row), []byte(c)) || bytes.Contains([]byte(row), []byte(hex.EncodeToString([]byte(c)))) {
						t.Errorf("%q in clear in %s: %s", c, table, row)
					}
				}
			}
		}
	})
}

// searchFiles fails the test if any canary is in a file of the SQLite
// database at path.
func searchFiles(t *testing.T, path string, canaries []string) {
	t.Helper()
	files, err := filepath.Glob(path + "*")
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range canaries {
			if bytes.Contains(b, []byte(c)) {
				t.Errorf("%q in clear in %s", c, filepath.Base(f))
			}
		}
	}
}

// USSD sessions: saved sealed, read back, replaced, ended, and swept once
// past their end — on both dialects.
func TestUSSDSessions(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		const phone flows.MSISDN = "+8613800138000"
		now := time.Now()
		read := func(id string) ([]byte, error) {
			var b []byte
			err := db.Step(ctx, func(tx *store.Tx) error {
				var err error
				b, err = tx.USSDSession(ctx, phone, id)
				return err
			})
			return b, err
		}
		step(t, db, func(tx *store.Tx) error {
			if err := tx.SaveUSSDSession(ctx, phone, "a1", []byte(`{"state":"main"}`), now.Add(time.Minute)); err != nil {
				return err
			}
			if err := tx.SaveUSSDSession(ctx, phone, "a1", []byte(`{"state":"send.payee"}`), now.Add(time.Minute)); err != nil {
				return err
			}
			return tx.SaveUSSDSession(ctx, phone, "old", []byte(`{"new_pin":"482915"}`), now.Add(-time.Second))
		})
		if b, err := read("a1"); err != nil || string(b) != `{"state":"send.payee"}` {
			t.Fatalf("read %q %v", b, err)
		}
		if _, err := read("zz"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("a missing session: %v", err)
		}
		if n, err := db.USSDSessions(ctx, now); err != nil || n != 1 {
			t.Fatalf("%d live sessions (%v), want 1", n, err)
		}
		if n, err := db.ExpireUSSDSessions(ctx, now); err != nil || n != 1 {
			t.Fatalf("expired %d (%v), want 1", n, err)
		}
		step(t, db, func(tx *store.Tx) error { return tx.EndUSSDSession(ctx, phone, "a1") })
		if _, err := read("a1"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("an ended session: %v", err)
		}
	})
}
