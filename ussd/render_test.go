package ussd

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/paygate/paygate/flows"
)

// longest are the longest realistic values of every placeholder a
// screen text takes (SPEC §4: a screen fits 182 GSM-7 characters or 80
// UCS-2 units, or is paged).
var longest = flows.Vars{
	"amount":       "50000.00", // the per-transfer limit of the tests' config
	"currency":     "CNY",
	"fee":          "250.00",
	"payee":        "W*** F***",
	"phone":        "+86139****9000",
	"ref":          "ACDEFGHJ",
	"merchant":     "DEMOSHOP1234",
	"account":      "PGB ****0001 *",
	"bank":         "ABCDEFGH", // bank codes are 2 to 8 letters
	"pin_length":   "6",
	"service_code": "*384*123#",
	"short_code":   "10657530",
	"text":         "DEMOSHOP1234 asks you to pay 50000.00 CNY",
}

// longestName is longest with a merchant's name as the payee: up to 40
// characters (store.MaxMerchantName), here Chinese, so that an English
// screen becomes UCS-2 too.
var longestName = func() flows.Vars {
	v := flows.Vars{}
	for k, x := range longest {
		v[k] = x
	}
	v["payee"] = strings.Repeat("商", 40)
	return v
}()

// TestTextsFit renders every screen text in both languages with the
// longest values: each fits one screen, or is paged into screens that
// each fit, keeping its "0 …" option on every page.
func TestTextsFit(t *testing.T) {
	e := testEngine(t)
	for _, k := range constsOfType(t, "texts.go", "textKey") {
		key := textKey(k.value)
		for _, c := range []struct {
			lang flows.Lang
			vars flows.Vars
		}{{flows.English, longest}, {flows.Chinese, longest}, {flows.English, longestName}, {flows.Chinese, longestName}} {
			lang := c.lang
			s := text(lang, key, c.vars)
			if strings.ContainsAny(s, "{}") {
				t.Errorf("%s %s: unfilled placeholder: %q", k.name, lang, s)
			}
			back := ""
			if i := strings.LastIndexByte(s, '\n'); i >= 0 && strings.HasPrefix(s[i+1:], "0 ") {
				back = s[i+1:]
			}
			n, gsm := Measure(s)
			if e.fits(s, DefaultLimit) {
				continue
			}
			pages := e.pages(s, lang, DefaultLimit, back)
			t.Logf("%s %s is %d (gsm7 %v): %d pages", k.name, lang, n, gsm, len(pages))
			for i, p := range pages {
				if !e.fits(p, DefaultLimit) {
					n, gsm := Measure(p)
					t.Errorf("%s %s: page %d of %d is %d (gsm7 %v), over the limit:\n%s", k.name, lang, i+1, len(pages), n, gsm, p)
				}
				if back != "" && !strings.HasSuffix(p, "\n"+back) && !strings.HasSuffix(p, "\n"+text(lang, tBack, nil)) {
					t.Errorf("%s %s: page %d lacks its back option:\n%s", k.name, lang, i+1, p)
				}
			}
		}
	}
}

// TestTextsComplete: every textKey has both languages; the English ones
// are GSM-7 (a stray curly quote would cut the screen to 80), except
// where they name a language in its own script; a key without a text
// panics (text says so) — there is none.
func TestTextsComplete(t *testing.T) {
	keys := constsOfType(t, "texts.go", "textKey")
	for _, k := range keys {
		tx, ok := texts[textKey(k.value)]
		switch {
		case !ok:
			t.Errorf("%s has no text", k.name)
		case tx.EN == "" || tx.ZH == "":
			t.Errorf("%s lacks a language: %+v", k.name, tx)
		case tx.EN == tx.ZH:
			t.Errorf("%s is not translated: %q", k.name, tx.EN)
		}
		if _, gsm := Measure(tx.EN); !gsm && !strings.Contains(tx.EN, "中文") {
			t.Errorf("%s: the English text is not GSM-7: %q", k.name, tx.EN)
		}
		// Both languages say the same facts: the Chinese confirmations
		// too name the payee's number and the merchant's code.
		if en, zh := placeholders(tx.EN), placeholders(tx.ZH); fmt.Sprint(en) != fmt.Sprint(zh) {
			t.Errorf("%s: the languages take different placeholders: %q / %q", k.name, tx.EN, tx.ZH)
		}
	}
	if len(texts) != len(keys) {
		t.Errorf("%d texts for %d keys", len(texts), len(keys))
	}
}

// smsSyntax is what an SMS reply quotes and a screen must not: a
// command's form (OK <PIN>, PIN <new> <new>), a command's keyword in
// capitals (Send HELP), the Chinese quotes of a keyword (发送 帮助,
// 回复 确认 <密码>).
var smsSyntax = regexp.MustCompile(`<[^<>]+>|\b(?:OK|SEND|PAY|BAL|MINI|ACCOUNTS|DEFAULT|LINK|UNLINK|RESETPIN|CANCEL|RESEND|STATUS|LANG|STOP|HELP)\b|发送 |回复 |确认 `)

// notOnScreens are the flows replies a screen never shows, and why; the
// prefixes "help." and "usage." likewise (the SMS help, and the forms of
// commands, which follow flows' answer to a malformed text).
var notOnScreens = map[flows.Key]string{
	flows.KeyHelp:              "HELP is not in the menus",
	flows.KeyUnknown:           "the menus build only commands flows reads (run answers a malformed one itself)",
	flows.KeyUnknownEmpty:      "idem",
	flows.KeyUnknownBareNumber: "idem",
	flows.KeyLangSet:           "the menu shows itself in the new language instead",
	flows.KeyAccountList:       "My accounts is listed by the engine",
	flows.KeySendConfirm:       "the engine's own confirmation (tSendConfirm) asks for the PIN, from the reply's vars",
	flows.KeyPayConfirm:        "idem (tPayConfirm)",
	flows.KeyBalAskPIN:         "idem (tBalPIN)",
	flows.KeyMiniAskPIN:        "idem (tMiniPIN)",
	flows.KeyLinkAskPIN:        "idem (tLinkPIN)",
	flows.KeyUnlinkAskPIN:      "idem (tUnlinkPIN)",
	flows.KeyRequestPush:       "a merchant's push request by SMS; the pushed screen is tPushPIN",
	flows.KeyResetAskPIN:       "RESETPIN is by SMS only: its prompt, should it answer a code typed on a screen, says what to text",
	flows.KeyWhatSend:          "names an operation inside other replies ({what}), filled by flows",
	flows.KeyWhatPay:           "idem",
	flows.KeyWhatLink:          "idem",
	flows.KeyWhatUnlink:        "idem",
}

// TestNoSMSSyntaxOnScreens: no screen quotes SMS syntax — neither the
// engine's texts nor a flows reply a screen may show, as the screen
// renders it (sayFlow: flowTexts where flows' words are an SMS's). A
// new flows reply that quotes a command fails here until it has screen
// words or a reason it never reaches a screen.
func TestNoSMSSyntaxOnScreens(t *testing.T) {
	for _, k := range constsOfType(t, "texts.go", "textKey") {
		for _, s := range []string{texts[textKey(k.value)].EN, texts[textKey(k.value)].ZH} {
			if m := smsSyntax.FindString(s); m != "" {
				t.Errorf("%s quotes %q: %q", k.name, m, s)
			}
		}
	}
	keys := flows.Keys()
	for _, k := range keys {
		if _, ok := notOnScreens[k]; ok || strings.HasPrefix(string(k), "help.") || strings.HasPrefix(string(k), "usage.") {
			continue
		}
		for _, lang := range []flows.Lang{flows.English, flows.Chinese} {
			if s := sayFlow(lang, k, longest); smsSyntax.MatchString(s) {
				t.Errorf("flows' %s reaches screens as %q: give it screen words in flowTexts", k, s)
			}
		}
	}
	for k := range notOnScreens {
		if !slices.Contains(keys, k) {
			t.Errorf("notOnScreens names %s, which flows no longer has", k)
		}
	}
	for k, tx := range flowTexts {
		switch {
		case !slices.Contains(keys, k):
			t.Errorf("flowTexts overrides %s, which flows does not have", k)
		case tx.EN == "" || tx.ZH == "" || tx.EN == tx.ZH:
			t.Errorf("flowTexts %s lacks a language: %+v", k, tx)
		}
		if _, gsm := Measure(tx.EN); !gsm {
			t.Errorf("flowTexts %s: the English text is not GSM-7: %q", k, tx.EN)
		}
		// Only what flows' reply carries, and the engine's own vars.
		own := placeholders(flows.Text(flows.English, k, nil))
		for _, v := range []string{"service_code", "short_code", "pin_length", "currency"} {
			own[v] = true
		}
		for p := range placeholders(tx.EN + tx.ZH) {
			if !own[p] {
				t.Errorf("flowTexts %s uses {%s}, which flows' reply does not carry", k, p)
			}
		}
	}
}

// TestConfirmationsSameFacts: the confirmations name payee, number or
// merchant code, amount, fee and reference in both languages, and fit
// one screen with the longest values (80 UCS-2 units in Chinese).
func TestConfirmationsSameFacts(t *testing.T) {
	e := testEngine(t)
	for _, key := range []textKey{tSendConfirm, tPayConfirm} {
		for _, lang := range []flows.Lang{flows.English, flows.Chinese} {
			s := text(lang, key, longest)
			for _, v := range []string{"amount", "fee", "ref", "payee"} {
				if !strings.Contains(s, longest[v]) {
					t.Errorf("%s %s lacks the %s: %q", key, lang, v, s)
				}
			}
			id := "phone"
			if key == tPayConfirm {
				id = "merchant"
			}
			if !strings.Contains(s, longest[id]) {
				t.Errorf("%s %s lacks the %s: %q", key, lang, id, s)
			}
			if !e.fits(s, DefaultLimit) {
				n, gsm := Measure(s)
				t.Errorf("%s %s is %d (gsm7 %v): not one screen:\n%s", key, lang, n, gsm, s)
			}
		}
	}
}

var placeholderRE = regexp.MustCompile(`\{([a-z_]+)\}`)

func placeholders(s string) map[string]bool {
	m := map[string]bool{}
	for _, p := range placeholderRE.FindAllStringSubmatch(s, -1) {
		m[p[1]] = true
	}
	return m
}

// gsm0338 is the GSM 03.38 default alphabet, code points 0x00 to 0x7F
// in order, with the escape (0x1B) as "\x1b".
const gsm0338 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// TestMeasure: septets for GSM-7 (2 for the extension table), UTF-16
// units otherwise; the basic table is GSM 03.38's.
func TestMeasure(t *testing.T) {
	if n := utf8.RuneCountInString(gsm0338); n != 128 {
		t.Fatalf("the reference table has %d characters", n)
	}
	for _, c := range gsm0338 {
		if c == 0x1b {
			continue
		}
		if n, gsm := Measure(string(c)); n != 1 || !gsm {
			t.Errorf("%q: %d, gsm7 %v; want 1 septet", c, n, gsm)
		}
	}
	tests := []struct {
		in   string
		n    int
		gsm7 bool
	}{
		{"", 0, true},
		{"Send money\n0 Back", 17, true},
		{"€5 [x]", 9, true},
		{"{}^~|\\\f", 14, true},
		{"转账", 2, false},
		{"Language\n2 中文", 13, false},
		{"’", 1, false},       // a curly quote is not GSM-7
		{"a😀", 3, false},      // a surrogate pair is 2 units
		{"ç", 1, false},       // only the capital Ç is in the table
		{"\x1b", 1, false},    // the escape is not a character
		{"àèìòù", 5, true},    // the accents of the table
		{"Ω and Δ", 7, true},  // Greek capitals of the table
		{"á", 1, false},       // not in the table
		{"  \r\n", 4, true},   // spaces and line ends count
		{"¥100.00", 7, true},  // the yen sign is in the table
		{"￥100.00", 7, false}, // the full-width yuan sign is not
	}
	for _, tt := range tests {
		if n, gsm := Measure(tt.in); n != tt.n || gsm != tt.gsm7 {
			t.Errorf("Measure(%q) = %d, %v; want %d, %v", tt.in, n, gsm, tt.n, tt.gsm7)
		}
	}
}

// TestPages holds the pager's promises on bodies of random lines and
// limits: every page fits; every page but the last offers 98 More; the
// first page keeps the screen's own "0 …" option and later ones 0 Back;
// and the pages, less those lines, give the body back (a line cut
// between pages loses only the space it was cut at).
func TestPages(t *testing.T) {
	e := testEngine(t)
	r := mrand.New(mrand.NewPCG(1, 2))
	words := []string{"paygate", "1 Send", "money", "转账", "PGB ****0001", "€", "a", "Enter your PIN:", "请输入密码：", "x"}
	for i := 0; i < 3000; i++ {
		lang := flows.English
		if r.IntN(2) == 0 {
			lang = flows.Chinese
		}
		var lines []string
		for n := 1 + r.IntN(8); n > 0; n-- {
			var ws []string
			for m := 1 + r.IntN(8); m > 0; m-- {
				ws = append(ws, words[r.IntN(len(words))])
			}
			lines = append(lines, strings.Join(ws, " "))
		}
		back := ""
		if r.IntN(2) == 0 {
			back = "0 Exit"
			lines = append(lines, back)
		}
		body := strings.Join(lines, "\n")
		// Real limits: UCS-2 holds less than half as many characters.
		g := 40 + r.IntN(150)
		l := Limit{GSM7: g, UCS2: g * 80 / 182}
		pages := e.pages(body, lang, l, back)
		name := fmt.Sprintf("case %d (limit %+v, back %q):\n%s", i, l, back, body)
		if len(pages) == 1 {
			if pages[0] != body {
				t.Fatalf("%s\none page %q is not the body", name, pages[0])
			}
			continue
		}
		more, backPage := text(lang, tMore, nil), text(lang, tBack, nil)
		var got []string
		for j, p := range pages {
			if !e.fits(p, l) {
				t.Fatalf("%s\npage %d does not fit: %q", name, j, p)
			}
			ls := strings.Split(p, "\n")
			wantBack := back
			if j > 0 {
				wantBack = backPage
			}
			if wantBack != "" {
				if ls[len(ls)-1] != wantBack {
					t.Fatalf("%s\npage %d does not end with %q: %q", name, j, wantBack, p)
				}
				ls = ls[:len(ls)-1]
			}
			if j < len(pages)-1 {
				if ls[len(ls)-1] != more {
					t.Fatalf("%s\npage %d does not offer %q: %q", name, j, more, p)
				}
				ls = ls[:len(ls)-1]
			}
			if len(ls) == 0 || strings.TrimSpace(strings.Join(ls, "")) == "" {
				t.Fatalf("%s\npage %d has no content: %q", name, j, p)
			}
			got = append(got, ls...)
		}
		want := strings.Join(lines, "")
		if back != "" {
			want = strings.Join(lines[:len(lines)-1], "")
		}
		if g := strings.Join(got, ""); strings.ReplaceAll(g, " ", "") != strings.ReplaceAll(want, " ", "") {
			t.Fatalf("%s\npages give back %q", name, g)
		}
	}
}

// testEngine is an Engine for the render tests (no store).
func testEngine(t testing.TB) *Engine {
	t.Helper()
	codes, err := flows.NewCodes(codeKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pins, err := flows.NewPINHasher(pepper, argon2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := flows.NewEngine(flows.EngineConfig{PINs: pins, Codes: codes})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Flows: fl})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
