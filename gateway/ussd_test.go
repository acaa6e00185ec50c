package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp"
)

// These tests dial *384# over real SMPP (the SMSC simulator's USSD) and
// over the aggregator callback (POST /ussd), against the bank simulator
// over HTTP: every screen is what the handset shows, every SMS what the
// phone receives.

// handset is one phone's USSD side: its session and the screens and SMS
// it has seen.
type handset struct {
	w       *world
	num     string // international, no "+"
	session []byte
	screens int // USSD MTs seen
	sms     int // SMS seen
}

func (w *world) handset(num string) *handset {
	h := &handset{w: w, num: strings.TrimPrefix(num, "+")}
	screens, sms := h.split()
	h.screens, h.sms = len(screens), len(sms)
	return h
}

// screen is one USSD MT: its text and ussd_service_op.
type screen struct {
	text string
	op   byte
}

func (h *handset) split() (screens []screen, sms []string) {
	for _, mt := range h.w.sim.Received(h.num) {
		text := smpp.DecodeText(smpp.Coding(mt.PDU.DataCoding), mt.PDU.ShortMessage)
		if mt.PDU.ServiceType == "USSD" {
			op, _ := mt.PDU.TLVs.Uint(smpp.TagUSSDServiceOp)
			if s, ok := mt.PDU.TLVs.Get(smpp.TagITSSessionInfo); ok {
				h.session = s
			}
			screens = append(screens, screen{text: text, op: byte(op)})
			continue
		}
		sms = append(sms, text)
	}
	return screens, sms
}

// next waits for the next screen.
func (h *handset) next() screen {
	h.w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		screens, _ := h.split()
		if len(screens) > h.screens {
			h.screens++
			return screens[h.screens-1]
		}
		if time.Now().After(deadline) {
			h.w.t.Fatalf("%s: no USSD screen; the last: %+v", h.num, screens[max(0, len(screens)-1):])
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// nextSMS waits for the next SMS.
func (h *handset) nextSMS() string {
	h.w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, sms := h.split()
		if len(sms) > h.sms {
			h.sms++
			return sms[h.sms-1]
		}
		if time.Now().After(deadline) {
			h.w.t.Fatalf("%s: no SMS", h.num)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// dial starts a session with a fresh session id and returns the first
// screen.
func (h *handset) dial(session ...byte) screen {
	h.w.t.Helper()
	if len(session) == 0 {
		session = []byte{0x12, byte(h.screens*2 + 2)}
	}
	h.session = session
	h.w.sim.InjectUSSD(h.num, "*384#", smpp.USSDPSSRIndication, smpp.TagITSSessionInfo, h.session, "*384#")
	return h.next()
}

// dialled starts a session with a fresh session id, dialling text (a
// shortcut such as *384*2#), and returns the first screen.
func (h *handset) dialled(text string) screen {
	h.w.t.Helper()
	h.session = []byte{0x13, byte(h.screens*2 + 2)}
	h.w.sim.InjectUSSD(h.num, "*384#", smpp.USSDPSSRIndication, smpp.TagITSSessionInfo, h.session, text)
	return h.next()
}

// answer sends text as the answer to the last screen and returns the
// next one.
func (h *handset) answer(text string) screen {
	h.w.t.Helper()
	h.w.sim.InjectUSSD(h.num, "*384#", smpp.USSDUSSRConfirm, smpp.TagITSSessionInfo, h.session, text)
	return h.next()
}

// is checks a screen's text and whether it continues (op 2) or ends (17).
func (h *handset) is(s screen, end bool, want ...string) {
	h.w.t.Helper()
	op := smpp.USSDUSSRRequest
	if end {
		op = smpp.USSDPSSRResponse
	}
	if s.op != op {
		h.w.t.Fatalf("screen %q with ussd_service_op %d, want %d", s.text, s.op, op)
	}
	for _, w := range want {
		if !strings.Contains(s.text, w) {
			h.w.t.Fatalf("screen %q does not say %q", s.text, w)
		}
	}
	if n, gsm := measure(s.text); gsm && n > 182 || !gsm && n > 80 {
		h.w.t.Fatalf("screen %q is %d characters (GSM-7 %v): over the limit", s.text, n, gsm)
	}
}

func measure(s string) (int, bool) {
	if n, ok := smpp.GSM7Len(s); ok {
		return n, true
	}
	return len([]rune(s)), false
}

// TestUSSDLinkSetPINAndSend: an unregistered phone dials, links its
// account with the code typed into the next screen, sets its PIN, then
// sends money: payee, amount, confirmation, PIN, the code from the SMS,
// and the end screen; the receipts come by SMS and the bank moved the
// money once.
func TestUSSDLinkSetPINAndSend(t *testing.T) {
	w := newWorld(t)
	wang := w.linked(wangNum, wangAcct, wangPIN)
	li := w.handset(liNum)

	li.is(li.dial(), false, "Welcome to paygate", "1 Link bank account", "0 Exit")
	li.is(li.answer("1"), false, "Bank code")
	li.is(li.answer("pgb"), false, "Account number at PGB")
	li.is(li.answer("12"), false, "An account number is 8 to 30 digits.", "Account number at PGB")
	li.is(li.answer(liAcct), false, "We are checking PGB ****0001", "Enter the code")
	code := sixDigits.FindString(li.nextSMS())
	li.is(li.answer("999"), false, "The code is the 6 digits")
	li.is(li.answer(code), false, "Linked: PGB ****0001", "Set your paygate PIN")
	li.is(li.answer(liPIN), false, "Enter the same PIN again")
	li.is(li.answer("111111"), false, "The two PINs differ.", "Set your paygate PIN")
	li.is(li.answer(liPIN), false, "Enter the same PIN again")
	li.is(li.answer(liPIN), false, "Your PIN is set", "paygate\n1 Send money")

	li.is(li.answer("9"), false, "Choose a number from the list.", "1 Send money")
	li.is(li.answer("1"), false, "Payee's phone number")
	li.is(li.answer("0"), false, "1 Send money") // back
	li.is(li.answer("1"), false, "Payee's phone number")
	li.is(li.answer("13900139000"), false, "Amount in CNY")
	li.is(li.answer("abc"), false, "Enter an amount such as 500", "Amount in CNY")
	confirm := li.answer("5")
	li.is(confirm, false, "Send 5.00 CNY to W*** F*** (+86139****9000)", "Fee 0.00, ref ", "Enter PIN to confirm")
	ref := refOf(t, confirm.text)
	li.is(li.answer("000000"), false, "Wrong PIN or code. Try again:", "Send 5.00 CNY") // the operation stays
	li.is(li.answer(liPIN), false, "A code is on its way by SMS")
	codeSMS := li.nextSMS()
	mustContain(t, codeSMS, "ref "+ref)
	li.is(li.answer(sixDigits.FindString(codeSMS)), true, "Confirmed: 5.00 CNY to W*** F***, ref "+ref, "The result will come by SMS.")
	mustContain(t, li.nextSMS(), "Paid 5.00 CNY to W*** F*** (")
	mustContain(t, wang.expect(1)[0], "Received 5.00 CNY from L* W** (")
	if got := balance(t, w.bank, wangAcct); got != 500_000+500 {
		t.Fatalf("payee's balance %d", got)
	}
	w.check(liNum, wangNum)
}

// TestUSSDChineseBalanceAccounts: a registered phone in Chinese asks
// for its balance (the end screen says the answer comes by SMS, and it
// does), lists its accounts and changes its PIN.
func TestUSSDChineseBalanceAccounts(t *testing.T) {
	w := newWorld(t)
	w.linked(liNum, liAcct, liPIN)
	li := w.handset(liNum)
	li.is(li.dial(), false, "1 Send money")
	li.is(li.answer("7"), false, "1 English\n2 中文")
	li.is(li.answer("2"), false, "1 转账", "0 退出")
	li.is(li.answer("3"), false, "查询PGB ****0001余额", "请输入密码")
	li.is(li.answer(liPIN), true, "结果将以短信通知")
	mustContain(t, li.nextSMS(), "PGB ****0001可用余额：10000.00CNY") // 1,000,000 minor units, in Chinese

	li.is(li.dial(0x22, 0x02), false, "1 转账")
	li.is(li.answer("5"), false, "我的账户", "1 PGB ****0001 *")
	li.is(li.answer("1"), false, "1 设为付款账户", "2 从本机解绑")
	li.is(li.answer("0"), false, "我的账户")
	li.is(li.answer("0"), false, "1 转账")
	li.is(li.answer("6"), false, "当前密码")
	li.is(li.answer(liPIN), false, "新密码")
	li.is(li.answer("592817"), false, "再次输入新密码")
	li.is(li.answer("592817"), true, "密码已修改")
}

// TestUSSDTimeoutAbortRestart: a screen not answered within 60 s ends
// the session; an aborted session is gone; a gateway restarted mid-
// session goes on where it was; a bind's screen limit pages the menu.
func TestUSSDTimeoutAbortRestart(t *testing.T) {
	w := newWorld(t, func(c *config.Config) { c.SMSC[0].USSDScreen = config.USSDScreen{GSM7: 60} })
	w.linked(liNum, liAcct, liPIN)
	li := w.handset(liNum)

	// Paging: 60 characters a screen.
	first := li.dial()
	li.is(first, false, "1 Send money", "98 More", "0 Exit")
	second := li.answer("98")
	li.is(second, false, "0 Back")
	if strings.Contains(second.text, "1 Send money") {
		t.Fatalf("page 2 repeats page 1: %q", second.text)
	}
	if got := li.answer("0"); got.text != first.text {
		t.Fatalf("0 on page 2: %q, want page 1 %q", got.text, first.text)
	}

	// Timeout.
	w.clock.add(61 * time.Second)
	li.is(li.answer("1"), true, "Your session timed out. Dial *384# to start again.")

	// Restart mid-session.
	li.is(li.dial(0x30, 0x02), false, "98 More")
	li.is(li.answer("2"), false, "Merchant code")
	w.stop()
	w.start()
	li.is(li.answer("0"), false, "1 Send money")

	// Abort: a release ends the session; an answer to it has none.
	w.sim.InjectUSSD(li.num, "*384#", 0x13, smpp.TagITSSessionInfo, li.session, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := w.gw.DB().USSDSessions(context.Background(), w.clock.now())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions after the abort", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	li.is(li.answer("1"), true, "timed out")
}

// TestUSSDUntrustedBind: money menus are refused on an untrusted bind;
// the rest works.
func TestUSSDUntrustedBind(t *testing.T) {
	w := newWorld(t)
	w.linked(liNum, liAcct, liPIN)
	w.stop()
	w.cfg.SMSC[0].Trusted = false
	w.start()
	li := w.handset(liNum)
	li.dial()
	li.is(li.answer("1"), false, "Payments are not available on this line.", "1 Send money")
	li.is(li.answer("5"), false, "1 PGB ****0001 *")
}

// TestUSSDPushPay: a network-initiated prompt (USSR request with no
// prior session) asks for the PIN of the PAY pending on the phone; the
// code comes by SMS and is typed into the next screen; the merchant is
// paid.
func TestUSSDPushPay(t *testing.T) {
	w, li, _ := moneyWorld(t)
	mustContain(t, li.one("PAY DEMO 7"), "Pay 7.00 CNY to Demo Shop")
	h := w.handset(liNum)
	if err := w.gw.PushUSSD(context.Background(), liNum, "Demo Shop asks you to pay 7.00 CNY"); err != nil {
		t.Fatal(err)
	}
	h.is(h.next(), false, "Demo Shop asks you to pay 7.00 CNY", "Enter your PIN to pay")
	h.is(h.answer(liPIN), false, "A code is on its way by SMS")
	code := sixDigits.FindString(h.nextSMS())
	h.is(h.answer(code), true, "Confirmed: 7.00 CNY to Demo Shop")
	mustContain(t, h.nextSMS(), "Paid 7.00 CNY to Demo Shop")
	w.check(liNum, shopNum)
}

// ussdToken is aggregator-1's bearer token for POST /ussd.
const ussdToken = "s3cret-token-0123456789"

// withUSSDHTTP turns POST /ussd on with one caller, aggregator-1,
// trusted with money or not.
func withUSSDHTTP(t *testing.T, trusted bool) func(*config.Config) {
	return func(c *config.Config) {
		c.USSDHTTP.TokenFile = filepath.Join(t.TempDir(), "ussd.token")
		c.USSDHTTP.Trusted = trusted
		if err := os.WriteFile(c.USSDHTTP.TokenFile, []byte("# callers\naggregator-1 "+ussdToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// postUSSD posts one aggregator callback for phone and returns the
// status and the body; it fails the test only on a transport error.
func postUSSD(addr, token, session, phone, text string) (int, string, error) {
	form := url.Values{"sessionId": {session}, "serviceCode": {"*384#"}, "phoneNumber": {phone}, "networkCode": {"46000"}, "text": {text}}
	req, err := http.NewRequest("POST", "http://"+addr+"/ussd", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// aggregator is one phone's sessions over POST /ussd, as Africa's
// Talking drives them: each callback's text is every input of the
// session so far, joined by "*".
type aggregator struct {
	w       *world
	phone   string
	session string
	inputs  []string
	n       int
}

func (w *world) aggregator(phone string) *aggregator { return &aggregator{w: w, phone: phone} }

// post sends text as the session's callback and returns the body.
func (a *aggregator) post(text string) string {
	a.w.t.Helper()
	code, body, err := postUSSD(a.w.gw.HTTPAddr(), ussdToken, a.session, a.phone, text)
	if err != nil {
		a.w.t.Fatal(err)
	}
	if code != http.StatusOK {
		a.w.t.Fatalf("callback %q: %d %q", text, code, body)
	}
	return body
}

// dial starts a new session; inputs are a shortcut's (*384*2*DEMO#).
func (a *aggregator) dial(inputs ...string) string {
	a.w.t.Helper()
	a.n++
	a.session = fmt.Sprintf("ATUid_%s_%d", a.phone[len(a.phone)-4:], a.n)
	a.inputs = append([]string(nil), inputs...)
	return a.post(strings.Join(a.inputs, "*"))
}

// answer sends in as the next input and returns the body.
func (a *aggregator) answer(in string) string {
	a.w.t.Helper()
	a.inputs = append(a.inputs, in)
	return a.post(strings.Join(a.inputs, "*"))
}

// is checks a callback's answer: CON or END, and what it says.
func (a *aggregator) is(body string, end bool, want ...string) {
	a.w.t.Helper()
	prefix := "CON "
	if end {
		prefix = "END "
	}
	if !strings.HasPrefix(body, prefix) {
		a.w.t.Fatalf("answer %q, want %q…", body, prefix)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			a.w.t.Fatalf("answer %q does not say %q", body, w)
		}
	}
	if n, gsm := measure(body[4:]); gsm && n > 182 || !gsm && n > 80 {
		a.w.t.Fatalf("screen %q is %d characters (GSM-7 %v): over the limit", body, n, gsm)
	}
}

// TestUSSDHTTPCallback: the aggregator convention over POST /ussd — a
// bearer token per caller, inputs joined by "*", CON/END — and money
// only from a trusted caller.
func TestUSSDHTTPCallback(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		w, li, _ := moneyWorld(t, withUSSDHTTP(t, trusted))
		post := func(token, session, text string) (int, string) {
			t.Helper()
			code, body, err := postUSSD(w.gw.HTTPAddr(), token, session, liNum, text)
			if err != nil {
				t.Fatal(err)
			}
			return code, body
		}
		const token = ussdToken
		if code, _ := post("", "s1", ""); code != http.StatusUnauthorized {
			t.Fatalf("no token: %d", code)
		}
		if code, _ := post("wrong-token-0123456789", "s1", ""); code != http.StatusUnauthorized {
			t.Fatalf("wrong token: %d", code)
		}
		code, body := post(token, "s1", "")
		if code != 200 || !strings.HasPrefix(body, "CON paygate\n1 Send money") {
			t.Fatalf("first callback: %d %q", code, body)
		}
		if _, again := post(token, "s1", ""); again != body {
			t.Fatalf("a retried callback: %q, want the same screen", again)
		}
		if !trusted {
			_, body = post(token, "s1", "2")
			if !strings.HasPrefix(body, "CON Payments are not available on this line.") {
				t.Fatalf("untrusted caller: %q", body)
			}
			_, body = post(token, "s1", "2*6")
			if !strings.HasPrefix(body, "CON Payments and account changes are not available on this line.") {
				t.Fatalf("untrusted caller, change PIN: %q", body)
			}
			continue
		}
		steps := []struct{ text, want string }{
			{"2", "CON Pay merchant\nMerchant code:"},
			{"2*demo", "CON Amount in CNY:"},
			{"2*demo*7", "CON Pay 7.00 CNY to Demo Shop (DEMO)"},
			{"2*demo*7*" + liPIN, "CON A code is on its way by SMS"},
		}
		for _, s := range steps {
			if _, body = post(token, "s1", s.text); !strings.HasPrefix(body, s.want) {
				t.Fatalf("text %q: %q, want %q…", s.text, body, s.want)
			}
		}
		code6 := waitCode(t, w, li.num, "Demo Shop")
		_, body = post(token, "s1", "2*demo*7*"+liPIN+"*"+code6)
		if !strings.HasPrefix(body, "END Confirmed: 7.00 CNY to Demo Shop") {
			t.Fatalf("the code: %q", body)
		}
		// The session is over: an old session's text replayed starts
		// nothing (it holds a PIN).
		if _, body = post(token, "s1", "2*demo*7*"+liPIN); !strings.HasPrefix(body, "END Your session timed out") {
			t.Fatalf("replayed: %q", body)
		}
		w.check(liNum, shopNum)
	}
}

// waitCode waits for the code SMS to num that names what, and returns
// the code.
func waitCode(t *testing.T, w *world, num, what string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range w.sim.ReceivedTexts(strings.TrimPrefix(num, "+")) {
			if (strings.Contains(m, "paygate code") || strings.Contains(m, "paygate验证码")) && strings.Contains(m, what) {
				if code := sixDigits.FindString(m); code != "" {
					return code
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: no code SMS naming %q", num, what)
	return ""
}

// TestUSSDHTTPShortcut: a shortcut dial (*384*2*DEMO#) reaches POST
// /ussd as a first callback whose text holds its inputs; they walk the
// menus as if typed one by one, and the session goes on from the screen
// they lead to. A PIN in a dial string is not taken: the walk stops at
// the PIN screen. A replay of an ended session's text starts nothing.
func TestUSSDHTTPShortcut(t *testing.T) {
	w, li, _ := moneyWorld(t, withUSSDHTTP(t, true))
	a := w.aggregator(liNum)
	a.is(a.dial("2", "demo"), false, "Amount in CNY:")
	a.is(a.answer("7"), false, "Pay 7.00 CNY to Demo Shop (DEMO)", "Enter PIN to confirm")
	a.is(a.post(strings.Join(a.inputs, "*")), false, "Pay 7.00 CNY to Demo Shop (DEMO)") // a retried callback
	a.is(a.answer(liPIN), false, "A code is on its way by SMS")
	a.is(a.answer(waitCode(t, w, li.num, "Demo Shop")), true, "Confirmed: 7.00 CNY to Demo Shop")
	a.is(a.post("2*demo"), true, "Your session timed out") // the old session's first text again

	// A PIN dialled with the shortcut is neither taken nor checked.
	checks := w.pinChecks("right") + w.pinChecks("wrong")
	a.is(a.dial("3", liPIN), false, "Balance of PGB ****0001", "Enter your PIN")
	if n := w.pinChecks("right") + w.pinChecks("wrong"); n != checks {
		t.Fatalf("%d PIN checks after a dialled PIN, want %d", n, checks)
	}
	a.is(a.answer(liPIN), true, "The answer will come by SMS")

	// Over SMPP, the dial string names the shortcut.
	h := w.handset(liNum)
	h.is(h.dialled("*384*2#"), false, "Pay merchant", "Merchant code")
	h.is(h.answer("DEMO"), false, "Amount in CNY")
	w.check(liNum, shopNum)
}

// TestUSSDHTTPReprompt: over POST /ussd, an input a screen does not take
// shows the same screen again with what was wrong, and the next callback
// goes on from it.
func TestUSSDHTTPReprompt(t *testing.T) {
	w, _, _ := moneyWorld(t, withUSSDHTTP(t, true))
	a := w.aggregator(liNum)
	a.is(a.dial(), false, "paygate\n1 Send money")
	a.is(a.answer("9"), false, "Choose a number from the list.\npaygate\n1 Send money")
	a.is(a.answer("1"), false, "Payee's phone number")
	a.is(a.answer("12ab"), false, "That is not a phone number.\nSend money\nPayee's phone number")
	a.is(a.answer("13900139000"), false, "Amount in CNY")
	a.is(a.answer("abc"), false, "Enter an amount such as 500 or 12.50.\nAmount in CNY")
	a.is(a.answer("5"), false, "Send 5.00 CNY to W*** F*** (+86139****9000)")
	a.is(a.answer("12"), false, "A PIN is 6 digits.\nSend 5.00 CNY")
	a.is(a.answer("000000"), false, "Wrong PIN or code. Try again:\nSend 5.00 CNY")
	a.is(a.answer("0"), false, "Amount in CNY") // back: the transfer is cancelled
	a.is(a.answer("0"), false, "Payee's phone number")
	a.is(a.answer("0"), false, "paygate\n1 Send money")
	a.is(a.answer("0"), true, "Thank you for using paygate.")
}

// TestUSSDHTTPTimeout: over POST /ussd, a callback more than 60 s after
// its screen ends the session; the same text again, or with more
// inputs, is told so too (never replayed into a new session); a new
// session starts afresh.
func TestUSSDHTTPTimeout(t *testing.T) {
	w, _, _ := moneyWorld(t, withUSSDHTTP(t, true))
	a := w.aggregator(liNum)
	a.is(a.dial(), false, "1 Send money")
	a.is(a.answer("3"), false, "Balance of PGB ****0001", "Enter your PIN")
	w.clock.add(61 * time.Second)
	checks := w.pinChecks("right") + w.pinChecks("wrong")
	a.is(a.answer(liPIN), true, "Your session timed out. Dial *384# to start again.")
	a.is(a.post(strings.Join(a.inputs, "*")), true, "Your session timed out")
	a.is(a.answer("1"), true, "Your session timed out")
	if n := w.pinChecks("right") + w.pinChecks("wrong"); n != checks {
		t.Fatalf("a PIN typed after the timeout was checked (%d checks, want %d)", n, checks)
	}
	// Past the session's hard end (180 s) the janitor may sweep; the
	// ended session is kept, so its text still starts nothing.
	w.clock.add(5 * time.Minute)
	a.is(a.post("3*"+liPIN), true, "Your session timed out")
	a.is(a.dial(), false, "1 Send money")
}

// TestUSSDHTTPPaging: over POST /ussd, a screen longer than 80 UCS-2
// units (a Chinese confirmation under a wrong-PIN note) pages with 98
// 更多 and 0 返回; 0 on the second page is the first again; the PIN is
// taken from any page.
func TestUSSDHTTPPaging(t *testing.T) {
	w, li, _ := moneyWorld(t, withUSSDHTTP(t, true))
	a := w.aggregator(liNum)
	a.dial()
	a.is(a.answer("7"), false, "1 English\n2 中文")
	a.is(a.answer("2"), false, "1 转账")
	a.is(a.answer("1"), false, "收款人手机号")
	a.is(a.answer("13900139000"), false, "金额")
	a.is(a.answer("5"), false, "向W*** F***（+86139****9000）转账5.00CNY", "请输入密码确认")
	first := a.answer("000000")
	a.is(first, false, "密码或验证码错误", "98 更多", "0 返回")
	if strings.Contains(first, "请输入密码确认") {
		t.Fatalf("the wrong-PIN note and the confirmation fit one screen now: %q", first)
	}
	second := a.answer("98")
	a.is(second, false, "请输入密码确认", "0 返回")
	if strings.Contains(second, "密码或验证码错误") {
		t.Fatalf("page 2 repeats page 1: %q", second)
	}
	if again := a.answer("0"); again != first {
		t.Fatalf("0 on page 2: %q, want page 1 %q", again, first)
	}
	a.is(a.answer(liPIN), false, "验证码已通过短信发送")
	code := waitCode(t, w, li.num, "向W*** F***转账5.00CNY")
	a.is(a.answer(code), true, "已确认：向W*** F***支付5.00CNY")
	w.check(liNum, wangNum)
}
