package flows

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// sampleVars fill every placeholder for measuring texts: the widest
// values they take.
var sampleVars = Vars{
	"pin_length": "6", "account": "ABCDEFGHIJK ****0001", "holder": "Z******** S***** W******",
	"until": "2026-11-22 09:30 CST", "time": "2026-11-22 09:30 CST", "what": "UNLINK of ABCDEFGHIJK ****0001",
	"n": "5", "count": "5", "code": "123456",
	"list": "1 ABCDEFGHIJK ****0001 (default); 2 ABCDEFGHIJK ****0002; 3 ABCDEFGHIJK ****0003",
	// Money: the longest each may be.
	"amount": "50000.00", "fee": "250.00", "currency": "CNY", "payee": "Z******** S***** W******",
	"phone": "*********9000", "merchant": "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "ref": "T7K2QXM4",
	"bankref": "B0123456789ABCDEF", "limit": "200000.00", "left": "199999.99",
	"reason": "Your bank cannot use one of the accounts (closed or blocked).",
	"state":  "not paid. Your bank cannot use one of the accounts (closed or blocked).",
	// The secure channel.
	"device": "0123456789abcdef", "why": "its security check did not come back in time.",
}

// gsm7Basic and gsm7Ext are the GSM 03.38 default alphabet and its
// extension table (2 septets each).
const (
	gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext   = "^{}\\[~]|€\f"
)

// smsParts says how a text goes out (SPEC §3): its coding, its length in
// that coding's units, and how many SMS it takes.
func smsParts(s string) (coding string, units, parts int) {
	gsm := true
	for _, r := range s {
		switch {
		case strings.ContainsRune(gsm7Basic, r):
			units++
		case strings.ContainsRune(gsm7Ext, r):
			units += 2
		default:
			gsm = false
		}
	}
	single, multi := 160, 153
	if !gsm {
		coding, single, multi, units = "UCS-2", 70, 67, 0
		for _, r := range s {
			units++
			if r > 0xFFFF {
				units++ // a surrogate pair
			}
		}
	} else {
		coding = "GSM-7"
	}
	if units <= single {
		return coding, units, 1
	}
	return coding, units, (units + multi - 1) / multi
}

func goldenPath(dir, name string) string {
	return filepath.Join("testdata", dir, strings.ReplaceAll(name, "/", "_")+".golden")
}

// checkGolden compares got with testdata/<dir>/<name>.golden, or writes
// it with -update.
func checkGolden(t *testing.T, dir, name, got string) {
	t.Helper()
	path := goldenPath(dir, name)
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
		t.Fatalf("%v (run go test ./flows -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test ./flows -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// checkNoStaleGoldens fails on golden files in testdata/<dir> that no
// test wrote (with -update it removes them).
func checkNoStaleGoldens(t *testing.T, dir string, names []string) {
	t.Helper()
	want := map[string]bool{}
	for _, n := range names {
		want[goldenPath(dir, n)] = true
	}
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.golden"))
	for _, f := range files {
		if want[f] {
			continue
		}
		if *update {
			os.Remove(f)
			continue
		}
		t.Errorf("%s belongs to no test: remove it (or run -update)", f)
	}
}

func describe(lang Lang, text string) string {
	coding, units, parts := smsParts(fill(text, sampleVars))
	return fmt.Sprintf("%s (%s, %d characters, %d SMS):\n%s\n", lang, coding, units, parts, text)
}

// TestCatalogueGolden writes every catalogue text, both languages, to
// testdata/replies/<key>.golden.
func TestCatalogueGolden(t *testing.T) {
	var names []string
	for _, k := range Keys() {
		names = append(names, string(k))
		e := catalogue[k]
		checkGolden(t, "replies", string(k), describe(English, e.EN)+"\n"+describe(Chinese, e.ZH))
	}
	checkNoStaleGoldens(t, "replies", names)
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// TestCatalogueTexts holds the rules of every text: both languages, the
// English in GSM-7, the Chinese Chinese, one or two SMS, the same
// placeholders in both, each one known.
func TestCatalogueTexts(t *testing.T) {
	for _, k := range Keys() {
		e := catalogue[k]
		if strings.TrimSpace(e.EN) == "" || strings.TrimSpace(e.ZH) == "" {
			t.Errorf("%s: a language is missing", k)
			continue
		}
		if c, _, _ := smsParts(fill(e.EN, sampleVars)); c != "GSM-7" {
			t.Errorf("%s: English text is not GSM-7 (it would go as UCS-2, 70 a part): %q", k, e.EN)
		}
		if TextLang(e.ZH) != Chinese {
			t.Errorf("%s: Chinese text has no Chinese: %q", k, e.ZH)
		}
		for lang, s := range map[Lang]string{English: e.EN, Chinese: e.ZH} {
			if _, units, parts := smsParts(fill(s, sampleVars)); parts > 2 {
				t.Errorf("%s %s: %d characters, %d SMS; keep it to 2", k, lang, units, parts)
			}
			if s != strings.TrimSpace(s) || strings.Contains(s, "  ") {
				t.Errorf("%s %s: stray spaces in %q", k, lang, s)
			}
			if strings.ContainsFunc(s, func(r rune) bool { return r == '\t' || r == '\n' }) {
				t.Errorf("%s %s: tabs or newlines in %q", k, lang, s)
			}
			for _, p := range placeholder.FindAllString(s, -1) {
				if _, ok := sampleVars[p[1:len(p)-1]]; !ok {
					t.Errorf("%s %s: unknown placeholder %s", k, lang, p)
				}
			}
		}
		en, zh := placeholder.FindAllString(e.EN, -1), placeholder.FindAllString(e.ZH, -1)
		slices.Sort(en)
		slices.Sort(zh)
		if !slices.Equal(en, zh) {
			t.Errorf("%s: placeholders differ: en %v, zh %v", k, en, zh)
		}
	}
	// The short answers fit one SMS.
	for _, k := range []Key{KeyUnknown, KeyUnknownEmpty, KeyUnknownBareNumber, KeyLangSet, KeyAccountNone, KeyMoneyUntrusted, KeyAuthFailed} {
		for _, lang := range []Lang{English, Chinese} {
			if _, units, parts := smsParts(Text(lang, k, sampleVars)); parts != 1 {
				t.Errorf("%s %s: %d characters, %d SMS; keep it to one", k, lang, units, parts)
			}
		}
	}
}

// TestCatalogueCoversGrammar: a HELP text for every command, a usage text
// for every command that can be written wrongly (not CANCEL and STOP,
// which take anything), a text for every Reason of a usage error.
func TestCatalogueCoversGrammar(t *testing.T) {
	for _, kw := range Keywords() {
		if _, ok := catalogue[HelpKey(kw)]; !ok {
			t.Errorf("no %s", HelpKey(kw))
		}
		_, ok := catalogue[UsageKey(kw)]
		if fails := !lenient[kw] || kw == KwHelp; ok != fails {
			t.Errorf("%s: usage text %v, can fail %v", kw, ok, fails)
		}
	}
	for r, msg := range reasonMessages {
		if strings.IndexFunc(msg, unicode.IsDigit) >= 0 {
			t.Errorf("reason %s message has digits: %q", r, msg)
		}
		_, ok := catalogue[ReasonKey(r)]
		if unknownReason := r == ReasonEmpty || r == ReasonBareNumber; ok == unknownReason {
			t.Errorf("reason %s: text %v", r, ok)
		}
	}
	for k := range catalogue {
		if r, ok := strings.CutPrefix(string(k), "reason."); ok {
			if _, known := reasonMessages[Reason(r)]; !known {
				t.Errorf("%s is the text of no Reason", k)
			}
		}
	}
}

// TestUsageRepliesFit: what was wrong and the correct form, together,
// fit two SMS for every pair.
func TestUsageRepliesFit(t *testing.T) {
	for _, kw := range Keywords() {
		if _, ok := catalogue[UsageKey(kw)]; !ok {
			continue
		}
		for r := range reasonMessages {
			if r == ReasonEmpty || r == ReasonBareNumber {
				continue
			}
			for _, lang := range []Lang{English, Chinese} {
				s := ErrorText(lang, usage(kw, r), sampleVars)
				if _, units, parts := smsParts(s); parts > 2 {
					t.Errorf("%s %s %s: %d characters, %d SMS", kw, r, lang, units, parts)
				}
			}
		}
	}
}

func TestText(t *testing.T) {
	if got := Text(English, ReasonKey(ReasonPINFormat), Vars{"pin_length": "4"}); got != "A PIN is 4 digits." {
		t.Errorf("filled = %q", got)
	}
	if got := Text(English, ReasonKey(ReasonPINFormat), nil); got != "A PIN is {pin_length} digits." {
		t.Errorf("unfilled = %q", got)
	}
	if got := Text("fr", KeyHelp, nil); got != catalogue[KeyHelp].EN {
		t.Errorf("an unknown language should read English, got %q", got)
	}
	if got := Text(Chinese, "no.such.key", nil); got != catalogue[KeyInternal].ZH {
		t.Errorf("a missing key should read %s, got %q", KeyInternal, got)
	}
	for in, want := range map[string]string{"{a}{b}": "1{b}", "x{a": "x{a", "}{a}{": "}1{", "": ""} {
		if got := fill(in, Vars{"a": "1"}); got != want {
			t.Errorf("fill(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		lang Lang
		err  error
		want string
	}{
		{"usage en", English, usage(KwSend, ReasonAmountDecimals),
			"An amount has at most 2 decimals. Send: SEND <phone> <amount>, e.g. SEND 13800138000 500"},
		{"usage zh", Chinese, usage(KwSend, ReasonAmountDecimals),
			"金额最多两位小数。格式：转账 <手机号> <金额>，如 转账 13800138000 500"},
		{"unknown", English, unknown(""), catalogue[KeyUnknown].EN},
		{"empty", Chinese, unknown(ReasonEmpty), catalogue[KeyUnknownEmpty].ZH},
		{"bare number", English, unknown(ReasonBareNumber), catalogue[KeyUnknownBareNumber].EN},
		{"wrapped", English, fmt.Errorf("x: %w", unknown("")), catalogue[KeyUnknown].EN},
		{"not ours", English, errors.New("boom"), catalogue[KeyInternal].EN},
	}
	for _, tt := range tests {
		if got := ErrorText(tt.lang, tt.err, sampleVars); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
