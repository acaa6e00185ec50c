package flows

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeTx is a Tx over maps, with failures to inject. It keeps what a
// store keeps: subscribers (state round-tripped through MarshalState, as
// the store does), accounts with ids, the bank outbox.
type fakeTx struct {
	subs     map[MSISDN]Subscriber
	accounts map[MSISDN][]Account
	sent     []OutSMS
	bank     []BankRequest
	saves    int
	lastID   int64

	transfers map[string]Transfer
	merchants map[string]Merchant
	requestFake
	deviceFake

	failLoad, failSave, failQueue error
}

func newFakeTx() *fakeTx {
	return &fakeTx{subs: map[MSISDN]Subscriber{}, accounts: map[MSISDN][]Account{},
		transfers: map[string]Transfer{}, merchants: map[string]Merchant{}}
}

func (f *fakeTx) CreateTransfer(_ context.Context, t Transfer) error {
	if f.failSave != nil {
		return f.failSave
	}
	for _, o := range f.transfers {
		if o.ID == t.ID || o.Ref == t.Ref {
			return fmt.Errorf("fake: transfer %s: %w", t.Ref, ErrDuplicate)
		}
	}
	f.transfers[t.ID] = t
	return nil
}

func (f *fakeTx) UpdateTransfer(_ context.Context, t Transfer) error {
	if f.failSave != nil {
		return f.failSave
	}
	o, ok := f.transfers[t.ID]
	if !ok {
		return ErrNotFound
	}
	o.State, o.Reason, o.BankRef, o.Updated, o.Expires = t.State, t.Reason, t.BankRef, t.Updated, t.Expires
	f.transfers[t.ID] = o
	return nil
}

func (f *fakeTx) Transfer(_ context.Context, id string) (Transfer, error) {
	if f.failLoad != nil {
		return Transfer{}, f.failLoad
	}
	t, ok := f.transfers[id]
	if !ok {
		return Transfer{}, ErrNotFound
	}
	return t, nil
}

func (f *fakeTx) TransferByRef(_ context.Context, ref string) (Transfer, error) {
	if f.failLoad != nil {
		return Transfer{}, f.failLoad
	}
	for _, t := range f.transfers {
		if t.Ref == ref {
			return t, nil
		}
	}
	return Transfer{}, ErrNotFound
}

func (f *fakeTx) Spent(_ context.Context, payer MSISDN, since time.Time) (Amount, error) {
	if f.failLoad != nil {
		return 0, f.failLoad
	}
	var sum Amount
	for _, t := range f.transfers {
		if t.Payer == payer && !t.Created.Before(since) && t.State.Debits() {
			sum += t.Amount
		}
	}
	return sum, nil
}

func (f *fakeTx) Merchant(_ context.Context, code string) (Merchant, error) {
	if f.failLoad != nil {
		return Merchant{}, f.failLoad
	}
	m, ok := f.merchants[code]
	if !ok {
		return Merchant{}, ErrNotFound
	}
	return m, nil
}

func (f *fakeTx) Accounts(_ context.Context, phone MSISDN) ([]Account, error) {
	if f.failLoad != nil {
		return nil, f.failLoad
	}
	return append([]Account(nil), f.accounts[phone]...), nil
}

func (f *fakeTx) SaveAccount(_ context.Context, phone MSISDN, a *Account) error {
	if f.failSave != nil {
		return f.failSave
	}
	if a.ID == 0 {
		f.lastID++
		a.ID = f.lastID
		f.accounts[phone] = append(f.accounts[phone], *a)
		return nil
	}
	for i, b := range f.accounts[phone] {
		if b.ID == a.ID {
			f.accounts[phone][i].Default, f.accounts[phone][i].Holder = a.Default, a.Holder
			return nil
		}
	}
	return fmt.Errorf("fake: no account %d", a.ID)
}

func (f *fakeTx) DeleteAccount(_ context.Context, phone MSISDN, id int64) error {
	if f.failSave != nil {
		return f.failSave
	}
	as := f.accounts[phone]
	for i, b := range as {
		if b.ID == id {
			f.accounts[phone] = append(as[:i:i], as[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("fake: no account %d", id)
}

func (f *fakeTx) QueueBank(_ context.Context, r BankRequest) error {
	if f.failQueue != nil {
		return f.failQueue
	}
	f.bank = append(f.bank, r)
	return nil
}

func (f *fakeTx) Subscriber(_ context.Context, phone MSISDN) (Subscriber, error) {
	if f.failLoad != nil {
		return Subscriber{}, f.failLoad
	}
	s, ok := f.subs[phone]
	if !ok {
		return Subscriber{}, fmt.Errorf("fake: subscriber %s: %w", phone.Masked(), ErrNotFound)
	}
	// What the store does: the state goes through its encoding, so a
	// step never shares pointers with the stored record.
	b, err := MarshalState(s)
	if err != nil {
		return Subscriber{}, err
	}
	if err := UnmarshalState(b, &s); err != nil {
		return Subscriber{}, err
	}
	return s, nil
}

func (f *fakeTx) SaveSubscriber(_ context.Context, s Subscriber) error {
	if f.failSave != nil {
		return f.failSave
	}
	s.Device = f.subs[s.Phone].Device // as the store: devices change by their own methods
	f.subs[s.Phone] = s
	f.saves++
	return nil
}

func (f *fakeTx) QueueSMS(_ context.Context, sms OutSMS) error {
	if f.failQueue != nil {
		return f.failQueue
	}
	f.sent = append(f.sent, sms)
	return nil
}

const (
	phone     MSISDN = "+8613800138000"
	shortCode        = "3030"
)

var t0 = time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)

// testArgon2 are cheap parameters for tests: the flows do not depend on
// the cost.
var testArgon2 = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32}

// newTestEngine returns an engine with cfg's fields and test keys.
func newTestEngine(t testing.TB, cfg EngineConfig) *Engine {
	t.Helper()
	pepper := bytes.Repeat([]byte{7}, PepperSize)
	if cfg.PINs == nil {
		h, err := NewPINHasher(pepper, testArgon2, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cfg.PINs = h
	}
	if cfg.Codes == nil {
		c, err := NewCodes(bytes.Repeat([]byte{9}, 32), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Codes = c
	}
	if cfg.ShortCode == "" {
		cfg.ShortCode = shortCode
	}
	if cfg.Country == "" {
		cfg.Country = "86"
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var sharedEngine *Engine

func testEngine() *Engine {
	if sharedEngine == nil {
		sharedEngine = newTestEngine(&testing.T{}, EngineConfig{DefaultLang: English})
	}
	return sharedEngine
}

// run runs one text through e, with its PIN work if it asks for some,
// and returns what it queued.
func run(t testing.TB, e *Engine, tx *fakeTx, in InboundSMS) []OutSMS {
	t.Helper()
	before := len(tx.sent)
	w, err := e.HandleSMS(context.Background(), tx, in)
	if err != nil {
		t.Fatalf("HandleSMS(%q): %v", Redact(in.Text), err)
	}
	if w != nil {
		if len(tx.sent) != before {
			t.Fatalf("HandleSMS(%q) asked for PIN work and replied", Redact(in.Text))
		}
		if err := e.ResumeSMS(context.Background(), tx, in, w, e.CheckPIN(w)); err != nil {
			t.Fatalf("ResumeSMS(%q): %v", Redact(in.Text), err)
		}
	}
	return tx.sent[before:]
}

func inbound(text string, trusted bool) InboundSMS {
	return InboundSMS{From: phone, To: shortCode, Bind: "carrier-a", Trusted: trusted, Text: text, At: t0}
}

// handle runs one text through e and returns the one reply.
func handle(t *testing.T, e *Engine, tx *fakeTx, in InboundSMS) OutSMS {
	t.Helper()
	out := run(t, e, tx, in)
	if n := len(out); n != 1 {
		t.Fatalf("HandleSMS(%q) queued %d SMS, want exactly 1", Redact(in.Text), n)
	}
	sms := out[0]
	if sms.To != in.From || sms.From != shortCode || sms.Bind != in.Bind || sms.Sensitive {
		t.Errorf("reply envelope %+v: want To %s, From %s, Bind %s, not sensitive", sms, in.From, shortCode, in.Bind)
	}
	if strings.TrimSpace(sms.Text) == "" || strings.ContainsAny(sms.Text, "{}") {
		t.Errorf("reply %q is empty or has an unfilled placeholder", sms.Text)
	}
	return sms
}

// TestHandleSMS runs each text from a new phone and compares the reply
// with testdata/handle/<name>.golden.
func TestHandleSMS(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		untrusted bool
		lang      Lang // the phone's saved choice
		wantKey   Key  // "" for a usage reply
	}{
		{"help", "HELP", false, "", KeyHelp},
		{"help chinese keyword", "帮助", false, "", KeyHelp},
		{"help full-width", "ＨＥＬＰ", false, "", KeyHelp},
		{"help topic", "help send", false, "", HelpKey(KwSend)},
		{"help topic chinese", "帮助 转账", false, "", HelpKey(KwSend)},
		{"help topic pin", "HELP PIN", false, "", HelpKey(KwPIN)},
		{"help english from chinese phone", "HELP", false, Chinese, KeyHelp},
		{"help chinese from english phone", "帮助", false, English, KeyHelp},
		{"help unknown topic", "HELP me", false, "", ""},
		{"unknown", "hello", false, "", KeyUnknown},
		{"unknown chinese", "你好", false, "", KeyUnknown},
		{"empty", "   ", false, "", KeyUnknownEmpty},
		{"bare pin", "4829", false, "", KeyUnknownBareNumber},
		{"send", "SEND 13800138000 500", false, "", KeyAccountNone},
		{"send chinese", "转账 13800138000 500", false, "", KeyAccountNone},
		{"send untrusted", "SEND 13800138000 500", true, "", KeyMoneyUntrusted},
		{"send bad amount", "SEND 13800138000 5.005", false, "", ""},
		{"send bad amount chinese", "转账 13800138000 5.005", false, "", ""},
		{"send missing", "SEND", false, "", ""},
		{"send impossible number", "SEND +99912345678 500", false, "", ""},
		{"pay", "PAY SHOP01 250 INV42", false, "", KeyAccountNone},
		{"pay untrusted", "付款 SHOP01 250", true, "", KeyMoneyUntrusted},
		{"pay zero", "PAY SHOP01 0", false, "", ""},
		{"bal", "BAL", false, "", KeyAccountNone},
		{"bal untrusted", "BAL", true, "", KeyMoneyUntrusted},
		{"bal with pin", "BAL 482915", false, "", ""},
		{"mini chinese", "明细", false, "", KeyAccountNone},
		{"accounts", "ACCOUNTS", false, "", KeyAccountNone},
		{"default", "DEFAULT 2", false, "", KeyAccountNone},
		{"default out of range", "DEFAULT 9", false, "", ""},
		{"unlink", "解绑 1", false, "", KeyAccountNone},
		{"pin", "PIN 482915 482915", false, "", KeyAccountNone},
		{"pin mismatch", "PIN 482915 482916", false, "", ""},
		{"pin mismatch chinese", "密码 482915 482916", false, "", ""},
		{"resetpin", "RESETPIN", false, "", KeyAccountNone},
		{"link", "LINK PGB 6222029988776655", false, "", KeyLinkChecking},
		{"link chinese", "绑定 PGB 6222029988776655", false, "", KeyLinkChecking},
		{"link untrusted", "LINK PGB 6222029988776655", true, "", KeyMoneyUntrusted},
		{"link missing account", "LINK PGB", false, "", ""},
		{"ok", "OK 482915", false, "", KeyAnswerNothing},
		{"ok short", "OK 48", false, "", ""},
		{"code", "731904", false, "", KeyAnswerNothing},
		{"cancel", "CANCEL", false, "", KeyCancelNothing},
		{"resend", "重发", false, "", KeyResendNothing},
		{"status", "STATUS T7K2QXM4", false, "", KeyStatusNotFound},
		{"stop", "STOP", false, "", KeyStopped},
		{"stop chinese untrusted", "停用", true, "", KeyMoneyUntrusted},
		{"ok untrusted", "OK 482915", true, "", KeyMoneyUntrusted},
		{"accounts untrusted", "ACCOUNTS", true, "", KeyAccountNone},
		{"lang zh", "LANG ZH", false, "", KeyLangSet},
		{"lang en from chinese phone", "语言 EN", false, Chinese, KeyLangSet},
		{"lang bad", "LANG FR", false, "", ""},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, strings.ReplaceAll(tt.name, " ", "-"))
		t.Run(tt.name, func(t *testing.T) {
			tx := newFakeTx()
			if tt.lang != "" {
				tx.subs[phone] = Subscriber{Phone: phone, Lang: tt.lang, Created: t0.Add(-time.Hour)}
			}
			sms := handle(t, testEngine(), tx, inbound(tt.text, !tt.untrusted))
			if tt.wantKey != "" {
				v := Vars{"pin_length": "6", "account": "PGB ****6655"}
				en, zh := Text(English, tt.wantKey, v), Text(Chinese, tt.wantKey, v)
				if sms.Text != en && sms.Text != zh {
					t.Errorf("reply %q is not %s", sms.Text, tt.wantKey)
				}
			}
			for _, secret := range []string{"482915", "482916", "731904", "6222029988776655"} {
				if strings.Contains(sms.Text, secret) {
					t.Errorf("reply echoes %s: %q", secret, sms.Text)
				}
			}
			checkGolden(t, "handle", strings.ReplaceAll(tt.name, " ", "-"),
				fmt.Sprintf("> %s\n< %s\n", Redact(tt.text), sms.Text))
		})
	}
	checkNoStaleGoldens(t, "handle", names)
}

// TestHandleSMSLanguage follows one phone through its language choices.
func TestHandleSMSLanguage(t *testing.T) {
	e, tx := testEngine(), newFakeTx()
	en, zh := catalogue[KeyHelp].EN, catalogue[KeyHelp].ZH
	steps := []struct {
		text      string
		wantReply string
		wantLang  Lang // saved
	}{
		{"HELP", en, ""},
		{"帮助", zh, ""}, // Chinese in, Chinese out; not saved
		{"HELP", en, ""},
		{"lang zh", catalogue[KeyLangSet].ZH, Chinese},
		{"HELP", zh, Chinese}, // the choice wins over the keyword's language
		{"LANG ZH", catalogue[KeyLangSet].ZH, Chinese},
		{"语言 英文", catalogue[KeyLangSet].EN, English}, // confirmed in the new language
		{"帮助", en, English},
	}
	for i, s := range steps {
		in := inbound(s.text, true)
		in.At = t0.Add(time.Duration(i) * time.Minute)
		sms := handle(t, e, tx, in)
		if sms.Text != s.wantReply {
			t.Errorf("step %d %q: reply %q, want %q", i, s.text, sms.Text, s.wantReply)
		}
		sub := tx.subs[phone]
		if sub.Lang != s.wantLang {
			t.Errorf("step %d %q: saved language %q, want %q", i, s.text, sub.Lang, s.wantLang)
		}
		if !sub.Created.Equal(t0) || sub.Phone != phone {
			t.Errorf("step %d: subscriber %+v, want created at first contact %v", i, sub, t0)
		}
	}
	// Created once, saved again only for the two language changes.
	if tx.saves != 3 {
		t.Errorf("%d saves, want 3 (creation, LANG ZH, LANG EN)", tx.saves)
	}
}

func TestHandleSMSDefaultLang(t *testing.T) {
	tests := []struct {
		name string
		def  Lang
		text string
		want string
	}{
		{"chinese default, english text", Chinese, "HELP", catalogue[KeyHelp].ZH},
		{"chinese default, unknown text", Chinese, "xyz", catalogue[KeyUnknown].ZH},
		{"english default, chinese text", English, "你好", catalogue[KeyUnknown].ZH},
		{"no default reads english", "", "HELP", catalogue[KeyHelp].EN},
		{"bad default reads english", "fr", "HELP", catalogue[KeyHelp].EN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, EngineConfig{DefaultLang: tt.def})
			if sms := handle(t, e, newFakeTx(), inbound(tt.text, true)); sms.Text != tt.want {
				t.Errorf("reply %q, want %q", sms.Text, tt.want)
			}
		})
	}
}

func TestHandleSMSPINLength(t *testing.T) {
	e := newTestEngine(t, EngineConfig{PINLength: 4})
	sms := handle(t, e, newFakeTx(), inbound("OK 1", true))
	if !strings.HasPrefix(sms.Text, "A PIN is 4 digits.") {
		t.Errorf("reply %q does not quote pin_length", sms.Text)
	}
}

// TestHandleSMSKnownPhone: a phone already known is not written again
// unless something changed.
func TestHandleSMSKnownPhone(t *testing.T) {
	tx := newFakeTx()
	known := Subscriber{Phone: phone, Lang: English, Created: t0.Add(-48 * time.Hour)}
	tx.subs[phone] = known
	handle(t, testEngine(), tx, inbound("BAL", true))
	handle(t, testEngine(), tx, inbound("LANG EN", true))
	if tx.saves != 0 || !reflect.DeepEqual(tx.subs[phone], known) {
		t.Errorf("%d saves, subscriber %+v; want it untouched", tx.saves, tx.subs[phone])
	}
}

// TestHandleSMSTxErrors: a failing Tx fails the step (the caller rolls
// back and the SMSC redelivers); nothing is queued, and the error does
// not carry the text.
func TestHandleSMSTxErrors(t *testing.T) {
	boom := errors.New("database is locked")
	tests := []struct {
		name  string
		setup func(*fakeTx)
		text  string
	}{
		{"load", func(f *fakeTx) { f.failLoad = boom }, "HELP"},
		{"save new", func(f *fakeTx) { f.failSave = boom }, "OK 482915"},
		{"save lang", func(f *fakeTx) {
			f.subs[phone] = Subscriber{Phone: phone}
			f.failSave = boom
		}, "LANG ZH"},
		{"queue", func(f *fakeTx) { f.failQueue = boom }, "PIN 482915 482915"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := newFakeTx()
			tt.setup(tx)
			_, err := testEngine().HandleSMS(context.Background(), tx, inbound(tt.text, true))
			if !errors.Is(err, boom) {
				t.Fatalf("HandleSMS = %v, want it to wrap %v", err, boom)
			}
			if len(tx.sent) != 0 {
				t.Errorf("queued %d SMS on a failed step", len(tx.sent))
			}
			if strings.Contains(err.Error(), "482915") || strings.Contains(err.Error(), string(phone)) {
				t.Errorf("error %q carries the text or the full phone number", err)
			}
		})
	}
}
