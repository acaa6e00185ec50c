package ussd

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// TestScreensGolden drives one tour of dialogues in English and in
// Chinese that reaches every State of the menus, and compares every
// screen — with the state it leaves the session in and its length as
// encoded — with testdata/screens.golden (go test ./ussd -update
// rewrites it). Every screen is checked against the limit as it goes
// (checkScreen); the test then fails if a State of session.go was never
// reached in either language.
func TestScreensGolden(t *testing.T) {
	var out strings.Builder
	for _, lang := range []flows.Lang{flows.English, flows.Chinese} {
		rec := &recorder{t: t, reached: map[State]bool{}, refs: map[string]string{}}
		e := newEnv(t, lang)
		rec.e = e
		tour(e, rec)
		fmt.Fprintf(&out, "######## %s\n\n%s", lang, rec.b.String())
		var missed []string
		for _, st := range constsOfType(t, "session.go", "State") {
			if !rec.reached[State(st.value)] {
				missed = append(missed, st.name)
			}
		}
		if len(missed) > 0 {
			t.Errorf("%s: the tour never reached %v", lang, missed)
		}
	}
	checkGolden(t, filepath.Join("testdata", "screens.golden"), out.String())
}

// checkGolden compares got with the file at path (-update writes it).
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./ussd -run TestScreensGolden -update creates it)", err)
	}
	if string(want) == got {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("%s differs from line %d (go test ./ussd -run TestScreensGolden -update rewrites it):\n got: %q\nwant: %q", path, i+1, gl, wl)
		}
	}
}

// recorder writes each screen of a dialogue for the golden file.
type recorder struct {
	t       *testing.T
	e       *env
	b       strings.Builder
	reached map[State]bool
	refs    map[string]string // a transfer's random reference → its stand-in
}

// title starts a dialogue in the file.
func (r *recorder) title(s string) { fmt.Fprintf(&r.b, "=== %s\n", s) }

// dial is env.dial recording every screen.
func (r *recorder) dial(phone flows.MSISDN, opts ...sessOpt) *sess {
	return r.e.dial(phone, append(opts, onScreen(r.screen))...)
}

// push is env.push recording the screen.
func (r *recorder) push(phone flows.MSISDN, text string) *sess {
	s, _ := r.e.push(phone, text, onScreen(r.screen))
	return s
}

func (r *recorder) screen(s *sess, in string, scr Screen) {
	r.t.Helper()
	st := s.state()
	if st != "" {
		r.reached[st] = true
	}
	l := s.r.Limit
	if l == (Limit{}) {
		l = DefaultLimit
	}
	n, gsm := Measure(scr.Text)
	enc, max := "gsm7", l.GSM7
	if !gsm {
		enc, max = "ucs2", l.UCS2
	}
	end := "CON " + string(st)
	if scr.End {
		end = "END"
	}
	// No code texted to the phone is ever on a screen.
	for _, texts := range r.e.sms {
		for _, t := range texts {
			if m := codeSMS.FindStringSubmatch(t); m != nil && strings.Contains(scr.Text, m[1]) {
				r.t.Errorf("after %q the screen shows the code %s:\n%s", in, m[1], scr.Text)
			}
		}
	}
	fmt.Fprintf(&r.b, "> %s\n%s\n-- %s · %s %d/%d\n", r.redact(s, in), r.stable(scr.Text), end, enc, n, max)
}

// redact hides the one-time codes typed (random).
func (r *recorder) redact(s *sess, in string) string {
	for _, texts := range r.e.sms {
		for _, t := range texts {
			if m := codeSMS.FindStringSubmatch(t); m != nil && m[1] == in {
				return "(the code)"
			}
		}
	}
	return in
}

// stable replaces the transfers' random references by stand-ins of the
// same length, numbered in order of appearance.
func (r *recorder) stable(text string) string {
	ts, err := r.e.db.Transfers(ctx, store.TransferFilter{})
	if err != nil {
		r.t.Fatal(err)
	}
	for i := len(ts) - 1; i >= 0; i-- {
		ref := ts[i].Ref
		if !strings.Contains(text, ref) {
			continue
		}
		if _, ok := r.refs[ref]; !ok {
			r.refs[ref] = fmt.Sprintf("REF%05d", len(r.refs)+1)
		}
		text = strings.ReplaceAll(text, ref, r.refs[ref])
	}
	return text
}

// tour is the dialogues of the golden file, for e's language.
func tour(e *env, r *recorder) {
	t := r.t
	e.payees()

	r.title("an unregistered phone: a wrong choice, help")
	s := r.dial(other)
	s.begin()
	s.send("9")
	s.send("2")

	r.title("an unregistered phone: exit")
	s = r.dial(other)
	s.begin()
	s.send("0")

	r.title("link the first account, then set the PIN")
	s = r.dial(me)
	s.begin()
	s.send("1")
	s.send("P1")
	s.send("pgb")
	s.send("123")
	s.send("0")
	s.send("PGB")
	s.send(string(acct1))
	s.send("000000") // before the bank answered
	e.bank(bankOK)
	s.send("12")
	s.send("000001") // a wrong code
	s.send(e.code(me))
	s.send("12")
	s.send("111111") // trivial: refused where it is typed
	s.send("111111")
	s.send(pin1)
	s.send("482916") // differs
	s.send(pin1)
	s.send("0") // back to the first PIN
	s.send(pin1)
	s.send(pin1)
	if e.subscriber(me).PIN == "" {
		t.Fatal("no PIN set after the dialogue")
	}

	r.title("send money")
	s = r.dial(me)
	s.begin()
	s.send("9")
	s.send("1")
	s.send("12ab")
	s.send("13800138000") // the phone itself
	s.send("500")
	s.send("13700137001") // no account
	s.send("500")
	s.send("13900139000")
	s.send("5.005")
	s.send("0")
	s.send("13900139000")
	s.send("500")
	s.send("12")
	s.send("000000") // a wrong PIN
	s.send(pin1)
	s.send("12")
	s.send(e.code(me))

	r.title("pay a merchant, back out of it; balance")
	s = r.dial(me)
	s.begin()
	s.send("2")
	s.send("!!")
	s.send("NOSUCH")
	s.send("10")
	s.send("demoshop1234")
	s.send("0")
	s.send(shopCode)
	s.send("12.50")
	s.send("0") // cancels the payment
	s.send("0")
	s.send("0")
	s.send("3")
	s.send(pin1)
	e.bank(bankOK)

	r.title("mini statement")
	s = r.dial(me)
	s.begin()
	s.send("4")
	s.send("0")
	s.send("4")
	s.send(pin1)
	e.bank(bankOK)

	r.title("my accounts: the payment account")
	e.step(func(tx *store.Tx) error { return e.addAccounts(tx, me, "6222020000000002") })
	s = r.dial(me)
	s.begin()
	s.send("5")
	s.send("7")
	s.send("2")
	s.send("9")
	s.send("0")
	s.send("2")
	s.send("1")

	r.title("my accounts: remove one")
	s = r.dial(me)
	s.begin()
	s.send("5")
	s.send("1")
	s.send("2")
	s.send("0")
	s.send("2")
	s.send("000000")
	s.send(pin1)

	r.title("change PIN")
	s = r.dial(me)
	s.begin()
	s.send("6")
	s.send("12")
	s.send(pin1)
	s.send("0")
	s.send(pin1)
	s.send(pin2)
	s.send("739105")
	s.send(pin2)
	s.send(pin2)

	r.title("change PIN: a wrong current PIN")
	s = r.dial(me)
	s.begin()
	s.send("6")
	s.send("000000")
	s.send(pin1)
	s.send(pin1)
	s.send("0")
	s.send("0")

	r.title("language")
	first, second := "2", "1"
	if e.lang == flows.Chinese {
		first, second = "1", "2"
	}
	s = r.dial(me)
	s.begin()
	s.send("7")
	s.send("9")
	s.send("0")
	s.send("7")
	s.send(first)
	s.send("7")
	s.send(second)
	s.send("0")

	r.title("remove the last account; link again, with the PIN")
	s = r.dial(me)
	s.begin()
	s.send("5")
	s.send("1")
	s.send("2")
	s.send(pin2)
	s = r.dial(me)
	s.begin()
	s.send("1")
	s.send("PGB")
	s.send(string(acct1))
	s.send("000000")
	s.send(pin2)
	e.bank(bankOK)
	s.send("0") // the code is texted back instead
	e.smsFrom(me, e.code(me))
	if n := len(e.accounts(me)); n != 1 {
		t.Fatalf("%d accounts after linking again, want 1", n)
	}

	r.title("a merchant's push: wrong PIN, PIN, code")
	e.smsFrom(me, "PAY "+shopCode+" 20")
	s = r.push(me, shopName+" asks you to pay 20.00 CNY")
	s.send("000000")
	s.send(pin2)
	s.send(e.code(me))

	r.title("a merchant's push, declined")
	e.smsFrom(me, "PAY "+shopCode+" 30")
	s = r.push(me, shopName+" asks you to pay 30.00 CNY")
	s.send("0")

	r.title("a bound phone with no PIN yet")
	third := flows.MSISDN("+8613600136000")
	e.step(func(tx *store.Tx) error {
		if err := tx.SaveSubscriber(ctx, flows.Subscriber{Phone: third, Created: e.now()}); err != nil {
			return err
		}
		return e.addAccounts(tx, third, "6222020000000031")
	})
	s = r.dial(third)
	s.begin()
	s.send("0")

	r.title("the screen timed out")
	s = r.dial(me)
	s.begin()
	e.clk.Add(61 * time.Second)
	s.send("1")

	r.title("an untrusted line")
	s = r.dial(me, untrusted)
	s.begin()
	s.send("1")
	s.send("6") // refused before the PINs are typed
	s.send("0")
	s = r.dial(other, untrusted)
	s.begin()
	s.send("1") // refused before the account is typed
	s.send("0")

	r.title("an aggregator: a shortcut's inputs walk the menus; the end; a replay")
	s = r.dial(me, joinedBind)
	s.begin("2", shopCode)
	s.send("0")
	s.send("0")
	s.send("0")
	s.resend() // the last callback again: the same end screen
	s.send("1")

	r.title("an aggregator: a shortcut stops at the PIN screen")
	s = r.dial(me, joinedBind)
	s.begin("3", "000000")
	s.send("0")
	s.send("0")

	r.title("a long end screen on a small screen, paged")
	s = r.dial(other, withLimit(Limit{GSM7: 60, UCS2: 24}))
	s.begin()
	s.send("2")
	s.send("98")
	s.send("0") // the page before
	if s.more() < 2 || !s.last.End {
		t.Fatalf("the help on a small screen is not 3 pages or more, the last ending the session")
	}

	r.title("five accounts on a small screen, paged")
	e.step(func(tx *store.Tx) error {
		return e.addAccounts(tx, me, "6222020000000003", "6222020000000004", "6222020000000005", "6222020000000006")
	})
	s = r.dial(me, withLimit(Limit{GSM7: 60, UCS2: 30}))
	s.begin()
	s.more()
	s.send("0")
	s.send("5") // from any page
	s.send("98")
	s.send("0")
	s.more()
	s.send("5")
	s.send("0")
	s.send("0")
	s.send("0")

	r.title("three wrong PINs lock the phone")
	s = r.dial(me)
	s.begin()
	s.send("3")
	s.send("000000")
	s.send("000000")
	for i := 0; i < 10; i++ {
		if scr := s.send("000000"); scr.End {
			break
		}
	}
	for i := 0; i < 10 && s.state() == stEndPages; i++ {
		s.send("98")
	}
	s = r.dial(me)
	s.begin()
	s.send("3")
	for i := 0; i < 10 && s.state() == stEndPages; i++ {
		s.send("98")
	}
}

// constant is a constant of a file of the package.
type constant struct{ name, value string }

// constsOfType returns the constants of type typ declared in file: the
// tests find every State and every textKey without a list to maintain.
func constsOfType(t *testing.T, file, typ string) []constant {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []constant
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, sp := range g.Specs {
			v := sp.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != typ {
				continue
			}
			for i, n := range v.Names {
				lit, ok := v.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: %s is not a literal", file, n.Name)
				}
				out = append(out, constant{n.Name, strings.Trim(lit.Value, `"`)})
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no constants of type %s in %s", typ, file)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return slices.Clip(out)
}
