package flows

import (
	"log/slog"
	"strconv"
	"strings"
)

// Keyword names a command of SPEC §3 by its English keyword; Chinese
// keywords map to the same Keyword. It is also a HELP topic.
type Keyword string

// The commands of SPEC §3. KwCode is the bare 6-digit answer to a
// one-time-code prompt (also accepted as "CODE 123456").
const (
	KwHelp     Keyword = "HELP"
	KwLink     Keyword = "LINK"
	KwPIN      Keyword = "PIN"
	KwSend     Keyword = "SEND"
	KwPay      Keyword = "PAY"
	KwBal      Keyword = "BAL"
	KwMini     Keyword = "MINI"
	KwAccounts Keyword = "ACCOUNTS"
	KwDefault  Keyword = "DEFAULT"
	KwOK       Keyword = "OK"
	KwCode     Keyword = "CODE"
	KwCancel   Keyword = "CANCEL"
	KwLang     Keyword = "LANG"
	KwStop     Keyword = "STOP"
	KwResend   Keyword = "RESEND"
	KwStatus   Keyword = "STATUS"
	KwUnlink   Keyword = "UNLINK"
	KwResetPIN Keyword = "RESETPIN"
)

// Keywords returns every command, in the order HELP lists them.
func Keywords() []Keyword {
	return []Keyword{
		KwSend, KwPay, KwBal, KwMini, KwAccounts, KwDefault, KwLink, KwUnlink,
		KwPIN, KwResetPIN, KwOK, KwCode, KwCancel, KwResend, KwStatus, KwLang,
		KwStop, KwHelp,
	}
}

// Money reports whether the command moves money: SEND and PAY, accepted
// only from a trusted bind (SPEC §5.5).
func (k Keyword) Money() bool { return k == KwSend || k == KwPay }

// MaxAccounts is how many accounts one phone may link (SPEC §5.1); the
// <n> of DEFAULT and UNLINK is 1..MaxAccounts.
const MaxAccounts = 5

// MaxRefLen is the longest PAY reference, in characters.
const MaxRefLen = 40

// TransferRefLen is the length of a transfer's short reference (SPEC §6),
// the <ref> of STATUS.
const TransferRefLen = 8

// synopsis is each command's form, for Error messages: no digits.
var synopsis = map[Keyword]string{
	KwHelp:     "HELP <command>",
	KwLink:     "LINK <bank> <account>",
	KwPIN:      "PIN <new> <new> or PIN <old> <new> <new>",
	KwSend:     "SEND <phone> <amount>",
	KwPay:      "PAY <merchant> <amount> <ref>",
	KwBal:      "BAL",
	KwMini:     "MINI",
	KwAccounts: "ACCOUNTS or ACCOUNTS <n>",
	KwDefault:  "DEFAULT <n>",
	KwOK:       "OK <PIN>",
	KwCode:     "the code alone",
	KwCancel:   "CANCEL",
	KwLang:     "LANG EN or LANG ZH",
	KwStop:     "STOP",
	KwResend:   "RESEND",
	KwStatus:   "STATUS <ref>",
	KwUnlink:   "UNLINK <n>",
	KwResetPIN: "RESETPIN",
}

// Command is one parsed SMS command (Parse). Its String is the command's
// canonical English form with PINs, codes and account numbers masked, so
// a Command may be logged.
type Command interface {
	Keyword() Keyword
	String() string
	command()
}

// CmdHelp is HELP [topic]; Topic "" asks for the list of commands.
type CmdHelp struct{ Topic Keyword }

// CmdLink is LINK <bank> <account>: Bank upper-cased, Account without
// spaces or dashes, letters upper-cased.
type CmdLink struct {
	Bank    string
	Account AccountNumber
}

// CmdPIN is PIN <new> <new> (Old "") or PIN <old> <new> <new>. Parse
// guarantees New == Confirm and that each is 4 to 6 digits; the exact
// length (pin_length) and triviality are the PIN flow's to check.
type CmdPIN struct{ Old, New, Confirm PIN }

// CmdSend is SEND <phone> <amount>. Payee is as typed (digits, maybe a
// leading +): normalize it with ParseMSISDN and the configured country.
type CmdSend struct {
	Payee  string
	Amount Amount
}

// CmdPay is PAY <merchant> <amount> [ref]: Merchant upper-cased, Ref the
// rest of the text with its spaces collapsed ("" if none).
type CmdPay struct {
	Merchant string
	Amount   Amount
	Ref      string
}

// CmdBal is BAL.
type CmdBal struct{}

// CmdMini is MINI.
type CmdMini struct{}

// CmdAccounts is ACCOUNTS (or 账户 alone).
type CmdAccounts struct{}

// CmdDefault is DEFAULT <n> (or ACCOUNTS <n>, 账户 <n>): N is 1..MaxAccounts.
type CmdDefault struct{ N int }

// CmdOK is OK <PIN>, the answer to a PIN prompt: 4 to 6 digits.
type CmdOK struct{ PIN PIN }

// CmdCode is a bare 6-digit message (or CODE <6 digits>), the answer to a
// one-time-code prompt.
type CmdCode struct{ Code OTP }

// CmdCancel is CANCEL.
type CmdCancel struct{}

// CmdLang is LANG EN or LANG ZH.
type CmdLang struct{ Lang Lang }

// CmdStop is STOP.
type CmdStop struct{}

// CmdResend is RESEND.
type CmdResend struct{}

// CmdStatus is STATUS <ref>: Ref is TransferRefLen letters or digits,
// upper-cased.
type CmdStatus struct{ Ref string }

// CmdUnlink is UNLINK <n>: N is 1..MaxAccounts.
type CmdUnlink struct{ N int }

// CmdResetPIN is RESETPIN.
type CmdResetPIN struct{}

func (CmdHelp) Keyword() Keyword     { return KwHelp }
func (CmdLink) Keyword() Keyword     { return KwLink }
func (CmdPIN) Keyword() Keyword      { return KwPIN }
func (CmdSend) Keyword() Keyword     { return KwSend }
func (CmdPay) Keyword() Keyword      { return KwPay }
func (CmdBal) Keyword() Keyword      { return KwBal }
func (CmdMini) Keyword() Keyword     { return KwMini }
func (CmdAccounts) Keyword() Keyword { return KwAccounts }
func (CmdDefault) Keyword() Keyword  { return KwDefault }
func (CmdOK) Keyword() Keyword       { return KwOK }
func (CmdCode) Keyword() Keyword     { return KwCode }
func (CmdCancel) Keyword() Keyword   { return KwCancel }
func (CmdLang) Keyword() Keyword     { return KwLang }
func (CmdStop) Keyword() Keyword     { return KwStop }
func (CmdResend) Keyword() Keyword   { return KwResend }
func (CmdStatus) Keyword() Keyword   { return KwStatus }
func (CmdUnlink) Keyword() Keyword   { return KwUnlink }
func (CmdResetPIN) Keyword() Keyword { return KwResetPIN }

func (c CmdHelp) String() string {
	if c.Topic == "" {
		return string(KwHelp)
	}
	return join(KwHelp, string(c.Topic))
}
func (c CmdLink) String() string { return join(KwLink, c.Bank, c.Account.Masked()) }
func (c CmdPIN) String() string {
	if c.Old == "" {
		return join(KwPIN, Mask, Mask)
	}
	return join(KwPIN, Mask, Mask, Mask)
}
func (c CmdSend) String() string { return join(KwSend, c.Payee, c.Amount.String()) }

// LogValue logs SEND with the payee masked but for its last 4 digits
// (STYLE: phone numbers log masked).
func (c CmdSend) LogValue() slog.Value {
	return slog.StringValue(join(KwSend, MSISDN(c.Payee).Masked(), c.Amount.String()))
}

func (c CmdPay) String() string {
	if c.Ref == "" {
		return join(KwPay, c.Merchant, c.Amount.String())
	}
	return join(KwPay, c.Merchant, c.Amount.String(), c.Ref)
}
func (CmdBal) String() string       { return string(KwBal) }
func (CmdMini) String() string      { return string(KwMini) }
func (CmdAccounts) String() string  { return string(KwAccounts) }
func (c CmdDefault) String() string { return join(KwDefault, strconv.Itoa(c.N)) }
func (CmdOK) String() string        { return join(KwOK, Mask) }
func (CmdCode) String() string      { return join(KwCode, Mask) }
func (CmdCancel) String() string    { return string(KwCancel) }
func (c CmdLang) String() string    { return join(KwLang, strings.ToUpper(string(c.Lang))) }
func (CmdStop) String() string      { return string(KwStop) }
func (CmdResend) String() string    { return string(KwResend) }
func (c CmdStatus) String() string  { return join(KwStatus, c.Ref) }
func (c CmdUnlink) String() string  { return join(KwUnlink, strconv.Itoa(c.N)) }
func (CmdResetPIN) String() string  { return string(KwResetPIN) }
func (CmdHelp) command()            {}
func (CmdLink) command()            {}
func (CmdPIN) command()             {}
func (CmdSend) command()            {}
func (CmdPay) command()             {}
func (CmdBal) command()             {}
func (CmdMini) command()            {}
func (CmdAccounts) command()        {}
func (CmdDefault) command()         {}
func (CmdOK) command()              {}
func (CmdCode) command()            {}
func (CmdCancel) command()          {}
func (CmdLang) command()            {}
func (CmdStop) command()            {}
func (CmdResend) command()          {}
func (CmdStatus) command()          {}
func (CmdUnlink) command()          {}
func (CmdResetPIN) command()        {}

func join(kw Keyword, args ...string) string {
	return string(kw) + " " + strings.Join(args, " ")
}
