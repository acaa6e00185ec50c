package flows

import (
	"regexp"
	"strings"
	"sync"
)

// ReceiptSide says who a receipt went to.
type ReceiptSide int

// Receipt sides.
const (
	ReceiptPayer ReceiptSide = iota + 1 // the payer's "Paid …"
	ReceiptPayee                        // the payee's or merchant's "Received …"
)

// ParseReceipt recognises the text of a receipt of a completed transfer
// (KeyReceiptPayer, KeyReceiptPayerPay, KeyReceiptPayee,
// KeyReceiptMerchant, in either language) and returns the transfer's
// reference and the side it went to. Invariant checkers use it to match
// the "success" SMS phones received against the bank's ledger
// (RELIABILITY I4); ok is false for any other text.
func ParseReceipt(text string) (ref string, side ReceiptSide, ok bool) {
	receiptOnce.Do(compileReceipts)
	for _, r := range receiptREs {
		if m := r.re.FindStringSubmatch(text); m != nil {
			return m[r.ref], r.side, true
		}
	}
	return "", 0, false
}

type receiptRE struct {
	re   *regexp.Regexp
	ref  int // the submatch of {ref}
	side ReceiptSide
}

var (
	receiptOnce sync.Once
	receiptREs  []receiptRE
)

func compileReceipts() {
	for key, side := range map[Key]ReceiptSide{
		KeyReceiptPayer: ReceiptPayer, KeyReceiptPayerPay: ReceiptPayer,
		KeyReceiptPayee: ReceiptPayee, KeyReceiptMerchant: ReceiptPayee,
	} {
		e := catalogue[key]
		for _, tmpl := range []string{e.EN, e.ZH} {
			var b strings.Builder
			b.WriteString("^")
			ref, n := 0, 0
			for rest := tmpl; rest != ""; {
				i := strings.IndexByte(rest, '{')
				j := strings.IndexByte(rest, '}')
				if i < 0 || j < i {
					b.WriteString(regexp.QuoteMeta(rest))
					break
				}
				b.WriteString(regexp.QuoteMeta(rest[:i]))
				n++
				if rest[i+1:j] == "ref" {
					ref = n
					b.WriteString("([" + refAlphabet + "]{" + "8" + "})")
				} else {
					b.WriteString("(.*?)")
				}
				rest = rest[j+1:]
			}
			b.WriteString("$")
			receiptREs = append(receiptREs, receiptRE{re: regexp.MustCompile(b.String()), ref: ref, side: side})
		}
	}
}
