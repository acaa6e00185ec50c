package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/smpp/smsc"
)

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// S4 on the SMS path: texts carrying canary PINs, a one-time code and a
// full account number — alone, and inside a long message that arrives in
// parts — never appear in the logs (debug level), the metrics, or any
// byte of the database files (database, WAL, shared memory).
func TestSecretsNeverStoredInClear(t *testing.T) {
	sim, err := smsc.Listen(smsc.Config{RetryInterval: 50 * time.Millisecond, DLR: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	cfg := testConfig(t, dir, sim.Addr(), 100)
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw, err := gateway.New(context.Background(), gateway.Options{Config: cfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gw.Close(ctx)
	}()
	for !gw.Bound() {
		time.Sleep(5 * time.Millisecond)
	}
	const pin, code, account = "739164", "482915", "6222020000007391"
	texts := []string{
		"OK " + pin,
		"PIN " + pin + " " + pin,
		"确认 " + pin,
		code,
		"LINK PGB " + account,
		"OK " + pin + strings.Repeat(" ", 200) + "thanks", // several parts
	}
	for i, text := range texts {
		phone := fmt.Sprintf("+861390000%04d", i)
		ids, err := sim.InjectText(phone, "3030", text, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := sim.WaitDelivered(ctxT(t), id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := sim.WaitReceived(ctxT(t), phone, 1); err != nil {
			t.Fatal(err) // answered: the message went through the whole path
		}
	}
	resp, err := http.Get("http://" + gw.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n, _ := gw.DB().InboxCount(context.Background()); n != len(texts) {
		t.Fatalf("inbox holds %d of %d", n, len(texts))
	}

	places := map[string][]byte{"logs": []byte(logs.String()), "metrics": metrics}
	for _, f := range []string{"paygate.db", "paygate.db-wal", "paygate.db-shm"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			places[f] = b
		}
	}
	if len(places["paygate.db-wal"]) == 0 {
		t.Fatal("no WAL to look in: the database was not written")
	}
	for where, b := range places {
		for _, secret := range []string{pin, code, account} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds %q in clear", where, secret)
			}
			// UCS-2 as the Chinese and the long message travel.
			if bytes.Contains(b, ucs2(secret)) {
				t.Errorf("%s holds %q in clear (UCS-2)", where, secret)
			}
		}
	}
}

func ucs2(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r>>8), byte(r))
	}
	return b
}
