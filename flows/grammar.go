package flows

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// The SMS command grammar, SPEC §3.
//
// A text is normalized before it is read: full-width forms fold to ASCII
// (ＳＥＮＤ１２３ → SEND123, the ideographic space → a space), decimal
// digits of any script become ASCII digits, every kind of space separates
// words and invisible format characters (zero-width space, BOM) vanish.
// Keywords are case-insensitive, English or Chinese (simplified or
// traditional), and may be glued to what follows when that is a digit
// (OK1234) or, for a Chinese keyword, anything (转账13800138000 500).
// A keyword may carry trailing punctuation (HELP?, 余额。).

// keywordTable maps every spelling of a keyword, upper-cased, to its
// Keyword.
var keywordTable = map[string]Keyword{
	"HELP": KwHelp, "?": KwHelp, "帮助": KwHelp, "幫助": KwHelp,
	"LINK": KwLink, "绑定": KwLink, "綁定": KwLink,
	"PIN": KwPIN, "密码": KwPIN, "密碼": KwPIN,
	"SEND": KwSend, "转账": KwSend, "转帐": KwSend, "轉賬": KwSend, "轉帳": KwSend,
	"PAY": KwPay, "付款": KwPay,
	"BAL": KwBal, "BALANCE": KwBal, "余额": KwBal, "餘額": KwBal,
	"MINI": KwMini, "明细": KwMini, "明細": KwMini,
	"ACCOUNTS": KwAccounts, "ACCOUNT": KwAccounts, "账户": KwAccounts, "賬戶": KwAccounts, "帳戶": KwAccounts,
	"DEFAULT": KwDefault, "默认": KwDefault, "默認": KwDefault,
	"OK": KwOK, "确认": KwOK, "確認": KwOK,
	"CODE": KwCode, "验证码": KwCode, "驗證碼": KwCode,
	"CANCEL": KwCancel, "取消": KwCancel,
	"LANG": KwLang, "LANGUAGE": KwLang, "语言": KwLang, "語言": KwLang,
	"STOP": KwStop, "停用": KwStop,
	"RESEND": KwResend, "重发": KwResend, "重發": KwResend,
	"STATUS": KwStatus, "查询": KwStatus, "查詢": KwStatus,
	"UNLINK": KwUnlink, "解绑": KwUnlink, "解綁": KwUnlink,
	"RESETPIN": KwResetPIN, "重置密码": KwResetPIN, "重置密碼": KwResetPIN,
}

// keywordsByLength is keywordTable's keys, longest first, for finding a
// keyword glued to its argument (重置密码 before 密码).
var keywordsByLength = func() []string {
	ks := make([]string, 0, len(keywordTable))
	for k := range keywordTable {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return ks
}()

// langTable maps LANG's argument, upper-cased, to a language.
var langTable = map[string]Lang{
	"EN": English, "ENG": English, "ENGLISH": English, "英文": English, "英语": English, "英語": English,
	"ZH": Chinese, "CN": Chinese, "CHINESE": Chinese, "中文": Chinese, "汉语": Chinese, "漢語": Chinese,
}

// punct may follow a keyword (HELP?, OK: 1234).
const punct = ".!?:,;。！？：，；、"

// lenient commands ignore words after what they need: they are safe to
// run however they are worded (STOP above all).
var lenient = map[Keyword]bool{KwHelp: true, KwCancel: true, KwStop: true}

// secretArgs are the commands whose every argument is a PIN or a code.
var secretArgs = map[Keyword]bool{KwOK: true, KwPIN: true, KwResetPIN: true, KwCode: true}

// lexed is a normalized text split into its keyword and arguments.
type lexed struct {
	words  []string // every word, normalized
	kw     Keyword  // "" when no keyword starts the text
	kwText string   // the keyword as written, normalized
	args   []string // the words after the keyword
}

// lex normalizes text and finds its keyword.
func lex(text string) lexed {
	l := lexed{words: strings.Fields(normalize(text))}
	if len(l.words) == 0 {
		return l
	}
	l.kw, l.kwText, l.args = keywordAt(l.words)
	return l
}

// keywordAt finds the keyword that starts words: it returns the keyword,
// how it was written and the words after it, or kw "" and words.
func keywordAt(words []string) (kw Keyword, written string, rest []string) {
	first := words[0]
	if k, ok := keywordTable[strings.ToUpper(first)]; ok {
		return k, first, words[1:]
	}
	if len(words) > 1 && strings.EqualFold(strings.TrimRight(first, punct), "RESET") &&
		strings.EqualFold(strings.TrimRight(words[1], punct), "PIN") {
		return KwResetPIN, first + " " + words[1], words[2:]
	}
	for _, k := range keywordsByLength {
		if len(first) < len(k) || !strings.EqualFold(first[:len(k)], k) {
			continue
		}
		after := first[len(k):]
		arg := strings.TrimLeft(after, punct)
		switch {
		case arg == "":
			// Nothing but punctuation after the keyword: "HELP?".
		case arg != after || k[0] >= utf8.RuneSelf || isASCIIDigit(arg[0]):
			// "OK:1234", "转账13800138000", "OK1234".
			return keywordTable[k], first[:len(k)], append([]string{arg}, words[1:]...)
		default:
			continue // "PAYMENT" is not PAY
		}
		return keywordTable[k], first[:len(k)], words[1:]
	}
	return "", "", words
}

// isPlainASCII reports whether s is printable ASCII and spaces only, which
// normalize leaves as it is.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// normalize folds full-width forms to ASCII, turns digits of every
// script into ASCII digits and every space or control character into a
// space, and drops invisible format characters.
func normalize(s string) string {
	if isPlainASCII(s) {
		return s // the usual command: nothing to fold or replace
	}
	s = width.Fold.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && !unicode.IsControl(r):
			b.WriteRune(r)
		case unicode.IsDigit(r):
			b.WriteRune('0' + digitValue(r))
		case unicode.IsSpace(r) || unicode.IsControl(r):
			b.WriteByte(' ')
		case unicode.Is(unicode.Cf, r):
			// zero-width space, joiners, BOM, direction marks
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// digitValue is the value of a decimal digit of any script: Unicode lays
// each script's digits out as a run of ten code points, 0 to 9.
func digitValue(r rune) rune {
	z := r
	for z > 0 && unicode.IsDigit(z-1) {
		z--
	}
	return (r - z) % 10
}

func isASCIIDigit(c byte) bool { return '0' <= c && c <= '9' }

// TextLang tells the language a text is written in, as far as the reply
// language is concerned: Chinese when it has a Han character, else "".
func TextLang(text string) Lang {
	for _, r := range text {
		if unicode.Is(unicode.Han, r) {
			return Chinese
		}
	}
	return ""
}

// Parse reads one SMS as a command of SPEC §3. It never panics and never
// quotes the text in an error: errors are *Error with CodeUsage (a known
// command written wrongly: Topic is the command, Reason what was wrong)
// or CodeUnknownCommand (Reason ReasonEmpty, ReasonBareNumber or "").
//
// What Parse checks is the form: that a PIN is 4 to 6 digits, an amount
// is positive with at most 2 decimals, a phone is digits. What depends on
// configuration or state (pin_length, limits, the country of a local
// number, whether an account n exists) is the flows' to check.
func Parse(text string) (Command, error) {
	return parseLexed(lex(text))
}

func parseLexed(l lexed) (Command, error) {
	if len(l.words) == 0 {
		return nil, unknown(ReasonEmpty)
	}
	if l.kw == "" {
		digits := strings.Join(l.words, "")
		switch {
		case !isDigits(digits):
			return nil, unknown("")
		case len(digits) == 6:
			return CmdCode{Code: OTP(digits)}, nil // "123456", "123 456"
		case len(digits) <= 8:
			return nil, unknown(ReasonBareNumber)
		default:
			return nil, unknown("") // a phone number alone, say
		}
	}
	kw, args := l.kw, l.args
	if most, ok := maxArgs[kw]; ok && !lenient[kw] && len(args) > most {
		// A digit-only account number may come in groups: LINK PGB 6222 0212.
		if !(kw == KwLink && len(args) > 2 && isDigits(strings.Join(args[1:], ""))) &&
			!(kw == KwCode && isDigits(strings.Join(args, ""))) {
			return nil, usage(kw, ReasonExtra)
		}
	}
	if len(args) < minArgs[kw] {
		return nil, usage(kw, ReasonMissing)
	}
	switch kw {
	case KwHelp:
		if len(args) == 0 {
			return CmdHelp{}, nil
		}
		topic, _, _ := keywordAt(args)
		if topic == "" {
			return nil, usage(kw, ReasonTopic)
		}
		return CmdHelp{Topic: topic}, nil
	case KwLink:
		bank := strings.ToUpper(args[0])
		// A bank code Redact would mask (a run of 4 to 8 digits: the
		// shape of a PIN or a code) is refused, for replies name the bank.
		if _, secret := maskDigitRuns(bank); !isCode(bank, 2, 11, "") || secret {
			return nil, usage(kw, ReasonBank)
		}
		acct := strings.ToUpper(strings.ReplaceAll(strings.Join(args[1:], ""), "-", ""))
		if !isCode(acct, 4, 34, "") || strings.IndexFunc(acct, unicode.IsDigit) < 0 {
			return nil, usage(kw, ReasonAccount)
		}
		return CmdLink{Bank: bank, Account: AccountNumber(acct)}, nil
	case KwPIN:
		for _, a := range args {
			if !isPIN(a) {
				return nil, usage(kw, ReasonPINFormat)
			}
		}
		c := CmdPIN{New: PIN(args[len(args)-2]), Confirm: PIN(args[len(args)-1])}
		if len(args) == 3 {
			c.Old = PIN(args[0])
		}
		if c.New != c.Confirm {
			return nil, usage(kw, ReasonPINMismatch)
		}
		return c, nil
	case KwSend:
		if !isPhone(args[0]) {
			return nil, usage(kw, ReasonPhone)
		}
		a, err := ParseAmount(args[1])
		if err != nil {
			return nil, withTopic(err, kw)
		}
		return CmdSend{Payee: args[0], Amount: a}, nil
	case KwPay:
		m := strings.ToUpper(args[0])
		if !isCode(m, 2, 32, "_-") {
			return nil, usage(kw, ReasonMerchant)
		}
		a, err := ParseAmount(args[1])
		if err != nil {
			return nil, withTopic(err, kw)
		}
		ref := strings.Join(args[2:], " ")
		if utf8.RuneCountInString(ref) > MaxRefLen {
			return nil, usage(kw, ReasonRef)
		}
		return CmdPay{Merchant: m, Amount: a, Ref: ref}, nil
	case KwBal:
		return CmdBal{}, nil
	case KwMini:
		return CmdMini{}, nil
	case KwAccounts:
		if len(args) == 0 {
			return CmdAccounts{}, nil
		}
		n, ok := position(args[0])
		if !ok {
			return nil, usage(kw, ReasonNumber)
		}
		return CmdDefault{N: n}, nil
	case KwDefault, KwUnlink:
		n, ok := position(args[0])
		if !ok {
			return nil, usage(kw, ReasonNumber)
		}
		if kw == KwUnlink {
			return CmdUnlink{N: n}, nil
		}
		return CmdDefault{N: n}, nil
	case KwOK:
		if !isPIN(args[0]) {
			return nil, usage(kw, ReasonPINFormat)
		}
		return CmdOK{PIN: PIN(args[0])}, nil
	case KwCode:
		code := strings.Join(args, "")
		if len(code) != 6 || !isDigits(code) {
			return nil, usage(kw, ReasonCodeFormat)
		}
		return CmdCode{Code: OTP(code)}, nil
	case KwCancel:
		return CmdCancel{}, nil
	case KwLang:
		lang, ok := langTable[strings.ToUpper(strings.TrimRight(args[0], punct))]
		if !ok {
			return nil, usage(kw, ReasonLang)
		}
		return CmdLang{Lang: lang}, nil
	case KwStop:
		return CmdStop{}, nil
	case KwResend:
		return CmdResend{}, nil
	case KwStatus:
		ref := strings.ToUpper(args[0])
		if !isCode(ref, TransferRefLen, TransferRefLen, "") {
			return nil, usage(kw, ReasonTransferRef)
		}
		return CmdStatus{Ref: ref}, nil
	case KwResetPIN:
		return CmdResetPIN{}, nil
	}
	return nil, unknown("") // unreachable: every Keyword is a case above
}

// minArgs and maxArgs bound each command's argument count (PAY's
// reference may have any number of words); a lenient command ignores
// words past its maximum.
var minArgs = map[Keyword]int{
	KwLink: 2, KwPIN: 2, KwSend: 2, KwPay: 2, KwDefault: 1, KwOK: 1, KwCode: 1,
	KwLang: 1, KwStatus: 1, KwUnlink: 1,
}

var maxArgs = map[Keyword]int{
	KwHelp: 1, KwLink: 2, KwPIN: 3, KwSend: 2, KwBal: 0, KwMini: 0, KwAccounts: 1,
	KwDefault: 1, KwOK: 1, KwCode: 1, KwCancel: 0, KwLang: 1, KwStop: 0,
	KwResend: 0, KwStatus: 1, KwUnlink: 1, KwResetPIN: 0,
}

// isPIN reports whether s has the form of a PIN: 4 to 6 ASCII digits.
func isPIN(s string) bool { return len(s) >= 4 && len(s) <= 6 && isDigits(s) }

// isPhone reports whether s has the form of a phone number: digits, maybe
// after a +; 5 to 17 of them (E.164's 15 after an international 00).
func isPhone(s string) bool {
	d := strings.TrimPrefix(s, "+")
	return len(d) >= 5 && len(d) <= 17 && isDigits(d)
}

// isCode reports whether s is lo to hi upper-case ASCII letters, digits
// or characters of extra.
func isCode(s string, lo, hi int, extra string) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || isASCIIDigit(c) || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// position reads the <n> of DEFAULT and UNLINK: 1 to MaxAccounts.
func position(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && isDigits(s) && n >= 1 && n <= MaxAccounts
}
