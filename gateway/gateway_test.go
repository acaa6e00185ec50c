package gateway_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// harness is a gateway bound to an SMSC simulator, on a fresh SQLite
// database in a temporary directory.
type harness struct {
	t   *testing.T
	sim *smsc.Server
	cfg config.Config
	dir string
	gw  *gateway.Gateway
}

func newHarness(t *testing.T, simCfg smsc.Config) *harness {
	t.Helper()
	if simCfg.RetryInterval == 0 {
		simCfg.RetryInterval = 100 * time.Millisecond
	}
	sim, err := smsc.Listen(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	cfg := testConfig(t, dir, sim.Addr(), 100)
	h := &harness{t: t, sim: sim, cfg: cfg, dir: dir}
	h.start()
	return h
}

// testConfig is a gateway config for tests and benchmarks: SQLite in
// dir, a data key file there, HTTP on a free port, and one bind
// "carrier-a" to the simulator at simAddr with the given window and no
// rate limit.
func testConfig(tb testing.TB, dir, simAddr string, window int) config.Config {
	tb.Helper()
	key, pepper := filepath.Join(dir, "data.key"), filepath.Join(dir, "pepper.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(pepper, []byte(strings.Repeat("cd", 32)+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg := config.Default()
	cfg.Keys.PepperFile = pepper
	cfg.Database = config.SecretURL("sqlite:" + filepath.Join(dir, "paygate.db"))
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Keys.DataKeyFile = key
	sc := config.DefaultSMSC()
	sc.Name, sc.Addr, sc.SystemID, sc.Password = "carrier-a", simAddr, "paygate", "secret"
	sc.Window, sc.Rate = window, 0
	cfg.SMSC = []config.SMSC{sc}
	return cfg
}

func (h *harness) start() {
	h.t.Helper()
	gw, err := gateway.New(context.Background(), gateway.Options{Config: h.cfg})
	if err != nil {
		h.t.Fatal(err)
	}
	h.gw = gw
	h.t.Cleanup(func() { h.stop() })
	waitBound(h.t, gw)
}

// waitBound waits until every bind of gw is up.
func waitBound(t *testing.T, gw *gateway.Gateway) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !gw.Bound() {
		if time.Now().After(deadline) {
			t.Fatal("gateway did not bind")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) stop() {
	if h.gw == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.gw.Close(ctx)
	h.gw = nil
}

// text sends a text from a phone and waits until the SMSC has it
// acknowledged.
func (h *harness) text(phone, text string) {
	h.t.Helper()
	ids, err := h.sim.InjectText(phone, "3030", text, false)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, id := range ids {
		if err := h.sim.WaitDelivered(ctxT(h.t), id); err != nil {
			h.t.Fatal(err)
		}
	}
}

// replies waits until the phone has n texts and returns them.
func (h *harness) replies(phone string, n int) []string {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := h.sim.ReceivedTexts(phone)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s received %d of %d replies: %q", phone, len(got), n, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var vars = flows.Vars{"pin_length": "6"}

// Commands answered through real SMPP, in English and Chinese, each from
// the short code, one reply per text.
func TestCommandsAnswered(t *testing.T) {
	h := newHarness(t, smsc.Config{})
	en, zh := flows.Text(flows.English, flows.KeyHelp, vars), flows.Text(flows.Chinese, flows.KeyHelp, vars)
	cases := []struct {
		phone, text string
		want        []string // replies, in order
	}{
		{"+8613800000001", "HELP", []string{en}},
		{"+8613800000002", "  help  ", []string{en}},
		{"+8613800000003", "帮助", []string{zh}},
		{"+8613800000004", "LANG ZH", []string{flows.Text(flows.Chinese, flows.KeyLangSet, vars)}},
		{"+8613800000005", "SEND 13800138000 500", []string{flows.Text(flows.English, flows.KeyAccountNone, vars)}},
	}
	for _, c := range cases {
		h.text(c.phone, c.text)
		got := h.replies(c.phone, len(c.want))
		for i := range c.want {
			if got[i] != c.want[i] {
				t.Errorf("%s %q: reply %d\n got %q\nwant %q", c.phone, c.text, i, got[i], c.want[i])
			}
		}
	}
	// The language choice sticks: HELP now answers in Chinese.
	h.text("+8613800000004", "HELP")
	if got := h.replies("+8613800000004", 2); got[1] != zh {
		t.Errorf("after LANG ZH, HELP answered %q", got[1])
	}
	// Garbage gets a helpful answer, never silence: an unknown word the
	// short help, a known command its correct form.
	h.text("+8613800000006", "xyzzy")
	if got := h.replies("+8613800000006", 1); got[0] != flows.Text(flows.English, flows.KeyUnknown, vars) {
		t.Errorf("unknown command answered %q", got[0])
	}
	h.text("+8613800000010", "pay me now!!")
	if got := h.replies("+8613800000010", 1); !strings.Contains(got[0], "PAY <merchant> <amount>") {
		t.Errorf("malformed PAY answered %q", got[0])
	}
	// Every reply comes from the short code, on the bind the MO came on.
	for _, mt := range h.sim.AllMTs() {
		if mt.PDU.Source.Addr != "3030" || mt.Bind != "paygate" {
			t.Fatalf("reply from %q on %q", mt.PDU.Source.Addr, mt.Bind)
		}
	}
}

// Long and Chinese commands arrive in parts and are answered once.
func TestLongMOAnswered(t *testing.T) {
	h := newHarness(t, smsc.Config{})
	long := "帮助" + strings.Repeat("　", 100) // full-width spaces: three UCS-2 parts
	ids, err := h.sim.InjectText("+8613800000007", "3030", long, true)
	if err != nil || len(ids) < 2 {
		t.Fatal(len(ids), err)
	}
	if got := h.replies("+8613800000007", 1); got[0] != flows.Text(flows.Chinese, flows.KeyHelp, vars) {
		t.Fatalf("reply %q", got[0])
	}
}

// R5: the SMSC loses acknowledgements and redelivers, and sends some MOs
// twice; every phone is still answered exactly once.
func TestRedeliveredAndDuplicatedAnsweredOnce(t *testing.T) {
	h := newHarness(t, smsc.Config{RetryInterval: 20 * time.Millisecond})
	h.sim.Faults().SetLoseAcks(0.3)
	h.sim.Faults().SetDuplicates(0.3)
	const n = 100
	var ids []uint64
	for i := range n {
		id, err := h.sim.InjectText(fmt.Sprintf("+86139%08d", i), "3030", "HELP", false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id...)
	}
	for _, id := range ids {
		if err := h.sim.WaitDelivered(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
	}
	attempts := 0
	for _, id := range ids {
		_, a, _ := h.sim.MOStatus(id)
		attempts += a
	}
	if attempts <= n {
		t.Fatalf("%d deliveries for %d MOs: the faults did not happen", attempts, n)
	}
	for i := range n {
		h.replies(fmt.Sprintf("+86139%08d", i), 1)
	}
	time.Sleep(200 * time.Millisecond) // a second reply would have come by now
	for i := range n {
		if got := h.sim.ReceivedTexts(fmt.Sprintf("+86139%08d", i)); len(got) != 1 {
			t.Fatalf("phone %d got %d replies", i, len(got))
		}
	}
	if c, err := h.gw.DB().InboxCount(context.Background()); err != nil || c != n {
		t.Fatalf("inbox holds %d of %d (%v)", c, n, err)
	}
	t.Logf("%d MOs delivered %d times, answered once each", n, attempts)
}

// With the store unavailable (another process holds an exclusive lock on
// the database), MOs are answered ESME_RX_T_APPN; the SMSC delivers them
// again and, once the store is back, each is answered once.
func TestStoreDownAsksForRedelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out SQLite's busy timeout")
	}
	h := newHarness(t, smsc.Config{RetryInterval: 200 * time.Millisecond, ResponseTimeout: 10 * time.Second})
	lock, err := sql.Open("sqlite3", "file:"+filepath.Join(h.dir, "paygate.db")+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	conn, err := lock.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	id := h.sim.Inject(smsc.MO{From: "+8613800000008", To: "3030", Text: "HELP"})
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, attempts, last := h.sim.MOStatus(id)
		if attempts >= 1 && last == smpp.StatusRxTAppn {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ESME_RX_T_APPN while the store is locked (attempts %d, last %s)", attempts, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := h.sim.ReceivedTexts("+8613800000008"); len(got) != 0 {
		t.Fatalf("answered while the store was down: %q", got)
	}
	conn.ExecContext(context.Background(), "ROLLBACK")
	conn.Close()
	if err := h.sim.WaitDelivered(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	if got := h.replies("+8613800000008", 1); len(got) != 1 {
		t.Fatalf("replies %q", got)
	}
}

// Delivery receipts are recorded on their MT.
func TestReceiptsRecorded(t *testing.T) {
	for _, form := range []string{"tlv", "text"} {
		t.Run(form, func(t *testing.T) {
			h := newHarness(t, smsc.Config{DLR: true, Receipts: form, HexIDs: true})
			h.text("+8613800000009", "HELP")
			h.replies("+8613800000009", 1)
			deadline := time.Now().Add(10 * time.Second)
			for {
				mts, err := h.gw.DB().MTs(context.Background(), "+8613800000009")
				if err != nil {
					t.Fatal(err)
				}
				if len(mts) == 1 && mts[0].State == "delivered" {
					if mts[0].Parts < 1 || mts[0].SentBind != "carrier-a" {
						t.Fatalf("%+v", mts[0])
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("MT not delivered: %+v", mts)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// A gateway on a shifted clock (as crash tests across processes use to
// pass 24-hour locks in seconds) still answers: the store stamps rows with
// the gateway's clock, so the outbox agrees on what is due.
func TestShiftedClockStillAnswers(t *testing.T) {
	sim, err := smsc.Listen(smsc.Config{RetryInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cfg := testConfig(t, t.TempDir(), sim.Addr(), 10)
	for _, shift := range []time.Duration{48 * time.Hour, -48 * time.Hour} {
		gw, err := gateway.New(context.Background(), gateway.Options{Config: cfg, Now: func() time.Time { return time.Now().Add(shift) }})
		if err != nil {
			t.Fatal(err)
		}
		// Three texts at once from one phone: the later replies queue
		// behind the first and are claimed when due.
		phone := fmt.Sprintf("+86138%08d", int(shift.Hours())+100)
		for _, text := range []string{"HELP", "xyzzy", "帮助"} {
			sim.Inject(smsc.MO{From: phone, To: "3030", Text: text})
		}
		_, err = sim.WaitReceived(ctxT(t), phone, 3)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gw.Close(ctx)
		cancel()
		if err != nil {
			t.Fatalf("clock shifted %v: %v", shift, err)
		}
	}
}
