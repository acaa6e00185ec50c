package flows

import "strings"

// Redact returns the form of an inbound text that may be stored in the
// inbox or written to a log (SPEC §3: PINs, one-time codes and full
// account numbers never in clear). It reads the text with the grammar:
//
//   - OK, PIN, RESETPIN and CODE (in any language or spelling): every
//     word after the keyword becomes Mask ("OK ****", "PIN **** ****");
//   - a message of nothing but 4 to 8 digits (a one-time code, or a PIN
//     sent without OK) becomes Mask;
//   - LINK: the account number shows only its last 4 ("LINK PGB ****5678");
//   - any other text the grammar does not accept, or a lenient command's
//     ignored words: every run of 4 to 8 digits becomes Mask and every
//     run of 16 or more (an account or card number) shows only its last 4;
//     runs of 9 to 15 digits (phone numbers) stay;
//   - a well-formed command with no secret in it (SEND 13800138000 500,
//     PAY SHOP01 250 INV42) is returned unchanged, as is any text with
//     nothing to mask.
//
// A changed text comes back normalized (full-width folded, spaces
// collapsed). Redact is safe for concurrent use.
func Redact(text string) string {
	r, _ := redact(text)
	return r
}

// HasSecret reports whether Redact masks something in text: such a text
// must be stored redacted, and its dedupe fingerprint must be a keyed
// HMAC (SPEC §5.5).
func HasSecret(text string) bool {
	_, changed := redact(text)
	return changed
}

func redact(text string) (string, bool) {
	out := redacted(text)
	return out, out != text
}

func redacted(text string) string {
	l := lex(text)
	if len(l.words) == 0 {
		return text
	}
	switch {
	case secretArgs[l.kw]:
		if len(l.args) == 0 {
			return text
		}
		out := []string{l.kwText}
		for range l.args {
			out = append(out, Mask)
		}
		return strings.Join(out, " ")
	case l.kw == KwLink && len(l.args) > 0:
		out := []string{l.kwText}
		for i, a := range l.args {
			if i == 0 && len(l.args) > 1 && isCode(strings.ToUpper(a), 2, 11, "") && longestDigitRun(a) < 4 {
				out = append(out, a) // the bank code
				continue
			}
			out = append(out, maskAccount(a))
		}
		return strings.Join(out, " ")
	case l.kw == "":
		if d := strings.Join(l.words, ""); isDigits(d) && len(d) >= 4 && len(d) <= 8 {
			return Mask
		}
	}
	if _, err := parseLexed(l); err == nil && !lenient[l.kw] {
		return text
	}
	if out, changed := maskDigitRuns(strings.Join(l.words, " ")); changed {
		return out
	}
	return text
}

// maskDigitRuns masks runs of 4 to 8 ASCII digits, and all but the last 4
// of runs of 16 or more; it reports whether it masked anything. Four
// digits right after Mask are what it left of a long run, and stay, so
// that redacting twice changes nothing more.
func maskDigitRuns(s string) (string, bool) {
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && isASCIIDigit(s[j]) {
			j++
		}
		if j == i {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch run := s[i:j]; {
		case len(run) == 4 && strings.HasSuffix(s[:i], Mask):
			b.WriteString(run)
		case len(run) >= 4 && len(run) <= 8:
			b.WriteString(Mask)
			changed = true
		case len(run) >= 16:
			b.WriteString(maskAccount(run))
			changed = true
		default:
			b.WriteString(run)
		}
		i = j
	}
	return b.String(), changed
}

func longestDigitRun(s string) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if isASCIIDigit(s[i]) {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}
