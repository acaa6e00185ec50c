package flows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeTx is a Tx over maps, with failures to inject.
type fakeTx struct {
	subs  map[MSISDN]Subscriber
	sent  []OutSMS
	saves int

	failLoad, failSave, failQueue error
}

func newFakeTx() *fakeTx { return &fakeTx{subs: map[MSISDN]Subscriber{}} }

func (f *fakeTx) Subscriber(_ context.Context, phone MSISDN) (Subscriber, error) {
	if f.failLoad != nil {
		return Subscriber{}, f.failLoad
	}
	s, ok := f.subs[phone]
	if !ok {
		return Subscriber{}, fmt.Errorf("fake: subscriber %s: %w", phone.Masked(), ErrNotFound)
	}
	return s, nil
}

func (f *fakeTx) SaveSubscriber(_ context.Context, s Subscriber) error {
	if f.failSave != nil {
		return f.failSave
	}
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

func testEngine() *Engine {
	return NewEngine(EngineConfig{DefaultLang: English, ShortCode: shortCode, Country: "86"})
}

func inbound(text string, trusted bool) InboundSMS {
	return InboundSMS{From: phone, To: shortCode, Bind: "carrier-a", Trusted: trusted, Text: text, At: t0}
}

// handle runs one text through e and returns the one reply.
func handle(t *testing.T, e *Engine, tx *fakeTx, in InboundSMS) OutSMS {
	t.Helper()
	before := len(tx.sent)
	if err := e.HandleSMS(context.Background(), tx, in); err != nil {
		t.Fatalf("HandleSMS(%q): %v", Redact(in.Text), err)
	}
	if n := len(tx.sent) - before; n != 1 {
		t.Fatalf("HandleSMS(%q) queued %d SMS, want exactly 1", Redact(in.Text), n)
	}
	sms := tx.sent[len(tx.sent)-1]
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
		{"bal untrusted", "BAL", true, "", KeyAccountNone},
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
		{"link", "LINK PGB 6222029988776655", false, "", KeyLinkUnavailable},
		{"link chinese", "绑定 PGB 6222029988776655", false, "", KeyLinkUnavailable},
		{"link missing account", "LINK PGB", false, "", ""},
		{"ok", "OK 482915", false, "", KeyAnswerNothing},
		{"ok short", "OK 48", false, "", ""},
		{"code", "731904", false, "", KeyAnswerNothing},
		{"cancel", "CANCEL", false, "", KeyCancelNothing},
		{"resend", "重发", false, "", KeyResendNothing},
		{"status", "STATUS T7K2QXM4", false, "", KeyStatusNotFound},
		{"stop", "STOP", false, "", KeyStopNothing},
		{"stop chinese untrusted", "停用", true, "", KeyStopNothing},
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
				en, zh := Text(English, tt.wantKey, sampleVars), Text(Chinese, tt.wantKey, sampleVars)
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
			e := NewEngine(EngineConfig{DefaultLang: tt.def, ShortCode: shortCode, Country: "86"})
			if sms := handle(t, e, newFakeTx(), inbound(tt.text, true)); sms.Text != tt.want {
				t.Errorf("reply %q, want %q", sms.Text, tt.want)
			}
		})
	}
}

func TestHandleSMSPINLength(t *testing.T) {
	e := NewEngine(EngineConfig{ShortCode: shortCode, Country: "86", PINLength: 4})
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
	if tx.saves != 0 || tx.subs[phone] != known {
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
			err := testEngine().HandleSMS(context.Background(), tx, inbound(tt.text, true))
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
