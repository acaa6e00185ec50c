package flows

import (
	"regexp"
	"strings"
	"sync"
)

// MatchText reads text back as the reply of key in lang: ok is true when
// text is that template with its placeholders filled, and vars holds what
// each placeholder held (the first, for one used twice). A {ref} matches
// a reference (TransferRefLen characters of the reference alphabet), a
// {code} 6 digits, anything else the shortest run that fits. Load tools
// and invariant checkers read the gateway's SMS with it.
func MatchText(lang Lang, key Key, text string) (vars Vars, ok bool) {
	re := textRE(lang, key)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return nil, false
	}
	vars = Vars{}
	for i, name := range re.SubexpNames() {
		if name != "" {
			vars[name] = m[i]
		}
	}
	return vars, true
}

type langKey struct {
	lang Lang
	key  Key
}

var textREs sync.Map // langKey → *regexp.Regexp

// textRE compiles the template of key in lang into an anchored regexp
// with a named group for each placeholder's first use.
func textRE(lang Lang, key Key) *regexp.Regexp {
	if re, ok := textREs.Load(langKey{lang, key}); ok {
		return re.(*regexp.Regexp)
	}
	var b strings.Builder
	b.WriteString("^")
	used := map[string]bool{}
	for rest := Text(lang, key, nil); rest != ""; {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest, '}')
		if i < 0 || j < i {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		name, group := rest[i+1:j], ""
		if !used[name] {
			group, used[name] = "?P<"+name+">", true
		}
		switch name {
		case "ref":
			b.WriteString("(" + group + "[" + refAlphabet + "]{8})")
		case "code":
			b.WriteString("(" + group + "[0-9]{6})")
		default:
			b.WriteString("(" + group + ".*?)")
		}
		rest = rest[j+1:]
	}
	b.WriteString("$")
	re, _ := textREs.LoadOrStore(langKey{lang, key}, regexp.MustCompile(b.String()))
	return re.(*regexp.Regexp)
}

// ReceiptSide says who a receipt went to.
type ReceiptSide int

// Receipt sides.
const (
	ReceiptPayer ReceiptSide = iota + 1 // the payer's "Paid …"
	ReceiptPayee                        // the payee's or merchant's "Received …"
)

var receiptKeys = []struct {
	key  Key
	side ReceiptSide
}{
	{KeyReceiptPayer, ReceiptPayer}, {KeyReceiptPayerPay, ReceiptPayer},
	{KeyReceiptPayee, ReceiptPayee}, {KeyReceiptMerchant, ReceiptPayee},
}

// ParseReceipt recognises the text of a receipt of a completed transfer
// (KeyReceiptPayer, KeyReceiptPayerPay, KeyReceiptPayee,
// KeyReceiptMerchant, in either language) and returns the transfer's
// reference and the side it went to. Invariant checkers use it to match
// the "success" SMS phones received against the bank's ledger
// (RELIABILITY I4); ok is false for any other text.
func ParseReceipt(text string) (ref string, side ReceiptSide, ok bool) {
	for _, lang := range []Lang{English, Chinese} {
		for _, r := range receiptKeys {
			if v, ok := MatchText(lang, r.key, text); ok {
				return v["ref"], r.side, true
			}
		}
	}
	return "", 0, false
}
