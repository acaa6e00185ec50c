package flows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The reply catalogue: every text the gateway sends a phone, in English
// and Chinese, in one place. Texts are plain Unicode; the SMPP layer picks
// GSM 7-bit (every English text is GSM-7, a test holds it) or UCS-2 (every
// Chinese text) and splits long ones (SPEC §3). Texts never quote what the
// user sent, so no reply can echo a PIN or code. Wording rules: say what
// happened and what to send next, in the form the grammar accepts; one or
// two SMS at most (a test holds it).
//
// A text may hold placeholders, {name}, filled from Vars by Text. Later
// flows add their texts as a new set (a map like coreTexts, in the flow's
// own file) listed in catalogue below; the golden test then asks for
// their golden files (go test ./flows -run Catalogue -update).

// Key names a text of the catalogue. Keys are lower-case, dot-separated:
// "help", "help.send", "usage.send", "reason.amount".
type Key string

// Entry is one text in each language.
type Entry struct{ EN, ZH string }

// Vars fill the placeholders of a text: Vars{"pin_length": "6"} turns
// {pin_length} into 6.
type Vars map[string]string

// Keys of texts that are not per command.
const (
	KeyHelp              Key = "help"                // the list of commands (HELP)
	KeyUnknown           Key = "unknown"             // unknown command: a short help
	KeyUnknownEmpty      Key = "unknown.empty"       // an empty message
	KeyUnknownBareNumber Key = "unknown.bare_number" // digits alone that are not a 6-digit code
	KeyLangSet           Key = "lang.set"            // LANG done, in the new language
	KeyAccountNone       Key = "account.none"        // a money or account command from a phone with no account
	KeyMoneyUntrusted    Key = "money.untrusted"     // a payment or account command from an untrusted bind
	KeyCancelNothing     Key = "cancel.nothing"      // CANCEL with nothing pending
	KeyResendNothing     Key = "resend.nothing"      // RESEND with no code pending
	KeyAnswerNothing     Key = "answer.nothing"      // OK <PIN> or a code with nothing pending
	KeyStatusNotFound    Key = "status.not_found"    // STATUS <ref> of no transfer of this phone
	KeyInternal          Key = "internal"            // a bug: a text missing from the catalogue
)

// HelpKey is the key of HELP <kw>: "help.send".
func HelpKey(kw Keyword) Key { return Key("help." + strings.ToLower(string(kw))) }

// UsageKey is the key of kw's correct form, with an example: "usage.send".
func UsageKey(kw Keyword) Key { return Key("usage." + strings.ToLower(string(kw))) }

// ReasonKey is the key of what a Reason says was wrong: "reason.amount".
func ReasonKey(r Reason) Key { return Key("reason." + string(r)) }

// catalogue is every set of texts, merged.
var catalogue = mergeTexts(coreTexts, helpTexts, usageTexts, reasonTexts, authTexts, moneyTexts, secureTexts)

func mergeTexts(sets ...map[Key]Entry) map[Key]Entry {
	all := map[Key]Entry{}
	for _, set := range sets {
		for k, e := range set {
			if _, dup := all[k]; dup {
				panic(fmt.Sprintf("flows: reply text %q defined twice", k))
			}
			all[k] = e
		}
	}
	return all
}

// Keys returns every key of the catalogue, sorted.
func Keys() []Key {
	ks := make([]Key, 0, len(catalogue))
	for k := range catalogue {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Text returns the text of key in lang with its placeholders filled from
// vars (a placeholder with no value stays as written). An unsupported
// lang reads English; a key that is not in the catalogue (a bug, which
// the tests look for) reads KeyInternal, so that the phone gets an answer.
func Text(lang Lang, key Key, vars Vars) string {
	e, ok := catalogue[key]
	if !ok {
		e = catalogue[KeyInternal]
	}
	s := e.EN
	if lang == Chinese && e.ZH != "" {
		s = e.ZH
	}
	return fill(s, vars)
}

// fill replaces each {name} of s that vars has.
func fill(s string, vars Vars) string {
	if len(vars) == 0 || !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		name := s[i+1 : i+j]
		v, ok := vars[name]
		if !ok {
			v = s[i : i+j+1]
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

// ErrorText is the reply to a text Parse refused with err, in lang: what
// was wrong, then the command's correct form (CodeUsage), or a short help
// (CodeUnknownCommand). An error that is not an *Error reads KeyInternal.
func ErrorText(lang Lang, err error, vars Vars) string {
	var e *Error
	if !errors.As(err, &e) {
		return Text(lang, KeyInternal, vars)
	}
	switch e.Code {
	case CodeUsage:
		sep := " "
		if lang == Chinese {
			sep = ""
		}
		return Text(lang, ReasonKey(e.Reason), vars) + sep + Text(lang, UsageKey(e.Topic), vars)
	case CodeUnknownCommand:
		switch e.Reason {
		case ReasonEmpty:
			return Text(lang, KeyUnknownEmpty, vars)
		case ReasonBareNumber:
			return Text(lang, KeyUnknownBareNumber, vars)
		}
		return Text(lang, KeyUnknown, vars)
	}
	return Text(lang, KeyInternal, vars)
}

var coreTexts = map[Key]Entry{
	KeyHelp: {
		EN: "Commands: SEND <phone> <amount>, PAY <merchant> <amount> <ref>, BAL, MINI, ACCOUNTS, DEFAULT <n>, LINK <bank> <account>, UNLINK <n>, PIN, RESETPIN, OK <PIN>, CANCEL, RESEND, STATUS <ref>, LANG EN/ZH, STOP. Codes we text you: send the 6 digits alone. More on one: HELP <command>, e.g. HELP SEND",
		ZH: "指令：转账 <手机号> <金额>，付款 <商户> <金额> <备注>，余额，明细，账户，绑定 <银行> <账号>，解绑 <序号>，密码，重置密码，确认 <密码>，取消，重发，查询 <编号>，语言 EN/ZH，停用。验证码请直接回复6位数字。详见：帮助 <指令>",
	},
	KeyUnknown: {
		EN: "Sorry, we did not understand. Commands: SEND, PAY, BAL, MINI, ACCOUNTS, LINK, PIN, CANCEL, LANG, STOP. Send HELP for all, HELP <command> for one.",
		ZH: "无法识别该指令。常用指令：转账、付款、余额、明细、账户、绑定、密码、取消、语言、停用。发送 帮助 查看全部。",
	},
	KeyUnknownEmpty: {
		EN: "Your message was empty. Send HELP for the list of commands.",
		ZH: "您的短信是空的。发送 帮助 查看指令列表。",
	},
	KeyUnknownBareNumber: {
		EN: "To answer a PIN request, send OK <PIN>. A code we text you has 6 digits: send them alone. Send HELP for the commands.",
		ZH: "回复密码请求请发送 确认 <密码>。我们发送的验证码为6位数字，请直接回复。发送 帮助 查看指令。",
	},
	KeyLangSet: {
		EN: "Replies are now in English. Send HELP for the commands.",
		ZH: "已改为中文回复。发送 帮助 查看指令。",
	},
	KeyAccountNone: {
		EN: "This phone has no linked bank account yet. Link one first: LINK <bank> <account>. Send HELP LINK to learn more.",
		ZH: "本手机尚未绑定银行账户。请先绑定：绑定 <银行代码> <账号>。发送 帮助 绑定 了解详情。",
	},
	KeyMoneyUntrusted: {
		EN: "Payments and account changes cannot be made through the network this message came by. Nothing was done.",
		ZH: "经此网络发来的短信不能用于付款或更改账户，未执行任何操作。",
	},
	KeyCancelNothing: {
		EN: "There is nothing to cancel.",
		ZH: "没有可取消的操作。",
	},
	KeyResendNothing: {
		EN: "No code is waiting for an answer, so there is nothing to resend.",
		ZH: "没有待回复的验证码，无需重发。",
	},
	KeyAnswerNothing: {
		EN: "Nothing is waiting for a PIN or a code from this phone. Nothing was done.",
		ZH: "本手机没有等待密码或验证码的操作，未执行任何操作。",
	},
	KeyStatusNotFound: {
		EN: "We found no transfer of yours with that reference.",
		ZH: "未找到您的该编号转账。",
	},
	KeyInternal: {
		EN: "Sorry, we could not handle that message. Nothing was done. Please try again later.",
		ZH: "抱歉，暂时无法处理该短信，未执行任何操作，请稍后再试。",
	},
}

var helpTexts = map[Key]Entry{
	HelpKey(KwHelp): {
		EN: "HELP lists the commands; HELP <command> explains one, e.g. HELP SEND. Commands work in English or Chinese, in capitals or not.",
		ZH: "帮助：列出全部指令；帮助 <指令>：查看某个指令的说明，如 帮助 转账。中英文指令均可使用。",
	},
	HelpKey(KwLink): {
		EN: "LINK <bank> <account> links this phone to your bank account, e.g. LINK PGB 6222020012345678. The bank checks the account is registered to this phone, then we text you a code to send back.",
		ZH: "绑定 <银行代码> <账号>：将本手机绑定到您的银行账户，如 绑定 PGB 6222020012345678。银行核实该账户登记的是本手机后，我们发送验证码，请直接回复。",
	},
	HelpKey(KwPIN): {
		EN: "PIN <new> <new> sets your PIN once an account is linked; PIN <old> <new> <new> changes it. A PIN is {pin_length} digits, not all the same nor in a row. Never share it.",
		ZH: "密码 <新密码> <新密码>：绑定账户后设置密码；密码 <旧密码> <新密码> <新密码>：修改密码。密码为{pin_length}位数字，不能全部相同或连续。请勿告诉他人。",
	},
	HelpKey(KwSend): {
		EN: "SEND <phone> <amount> pays another registered phone from your default account, e.g. SEND 13800138000 500. We reply with the payee, amount and fee: confirm with OK <PIN>, then send back the code we text you.",
		ZH: "转账 <手机号> <金额>：从默认账户向另一已注册手机付款，如 转账 13800138000 500。我们回复收款人、金额和手续费，请回复 确认 <密码>，再回复短信验证码。",
	},
	HelpKey(KwPay): {
		EN: "PAY <merchant> <amount> <ref> pays a merchant by its code; the reference is optional, e.g. PAY SHOP01 250 INV42. Confirm with OK <PIN>, then send back the code we text you.",
		ZH: "付款 <商户代码> <金额> <备注>：向商户付款，备注可省略，如 付款 SHOP01 250 INV42。请回复 确认 <密码>，再回复短信验证码。",
	},
	HelpKey(KwBal): {
		EN: "BAL shows the balance of your default account. We ask for your PIN first: answer OK <PIN>.",
		ZH: "余额：查询默认账户余额。我们会先请您输入密码：回复 确认 <密码>。",
	},
	HelpKey(KwMini): {
		EN: "MINI shows your last 5 transactions. We ask for your PIN first: answer OK <PIN>.",
		ZH: "明细：查看最近5笔交易。我们会先请您输入密码：回复 确认 <密码>。",
	},
	HelpKey(KwAccounts): {
		EN: "ACCOUNTS lists your linked accounts, numbered, each shown as ****1234. DEFAULT <n> chooses the one that pays, e.g. DEFAULT 2.",
		ZH: "账户：列出已绑定的账户（带序号，账号只显示后4位）。账户 <序号>：设为默认付款账户，如 账户 2。",
	},
	HelpKey(KwDefault): {
		EN: "DEFAULT <n> makes account n of your ACCOUNTS list the one that pays, e.g. DEFAULT 2.",
		ZH: "账户 <序号>：将账户列表中第n个账户设为默认付款账户，如 账户 2。发送 账户 查看列表。",
	},
	HelpKey(KwOK): {
		EN: "OK <PIN> answers our request for your PIN (after SEND, PAY, BAL, MINI or UNLINK). 3 wrong PINs or codes in a row lock this phone for 24 hours.",
		ZH: "确认 <密码>：回复我们的密码请求（转账、付款、余额、明细、解绑时）。密码或验证码连续错误3次，本手机将被锁定24小时。",
	},
	HelpKey(KwCode): {
		EN: "When we text you a 6-digit code, send the 6 digits back alone. A code works once, for that one operation, for 5 minutes. Never share it.",
		ZH: "收到6位验证码后，请直接回复这6位数字。验证码仅限该笔操作使用一次，5分钟内有效。请勿告诉他人。",
	},
	HelpKey(KwCancel): {
		EN: "CANCEL abandons what is waiting for your PIN or a code. Nothing is paid.",
		ZH: "取消：放弃正在等待密码或验证码的操作，不会付款。",
	},
	HelpKey(KwLang): {
		EN: "LANG EN: replies in English. LANG ZH: replies in Chinese.",
		ZH: "语言 ZH：中文回复。语言 EN：英文回复。",
	},
	HelpKey(KwStop): {
		EN: "STOP blocks every payment from this phone at once, e.g. if it is lost or stolen. Only customer service can unblock it.",
		ZH: "停用：立即停止本手机的全部付款（如手机丢失或被盗）。只有客服可以解除。",
	},
	HelpKey(KwResend): {
		EN: "RESEND texts you a fresh code for what is waiting; the old code stops working.",
		ZH: "重发：为待确认的操作重新发送验证码，旧验证码随即失效。",
	},
	HelpKey(KwStatus): {
		EN: "STATUS <ref> tells the state of one of your transfers, by the reference in our SMS, e.g. STATUS T7K2QXM4.",
		ZH: "查询 <编号>：按短信中的编号查询您某笔转账的状态，如 查询 T7K2QXM4。",
	},
	HelpKey(KwUnlink): {
		EN: "UNLINK <n> removes account n of your ACCOUNTS list from this phone, e.g. UNLINK 2. We ask for your PIN first.",
		ZH: "解绑 <序号>：解除账户列表中第n个账户，如 解绑 2。我们会先请您输入密码。",
	},
	HelpKey(KwResetPIN): {
		EN: "RESETPIN if you forgot your PIN: your bank checks this phone, we text you a code to send back, then you set a new PIN with PIN <new> <new>.",
		ZH: "重置密码：忘记密码时使用。银行核实本手机后，我们发送验证码，回复后用 密码 <新密码> <新密码> 设置新密码。",
	},
}

// usageTexts give each command's correct form. CANCEL and STOP accept
// anything after them and never fail, so they have none.
var usageTexts = map[Key]Entry{
	UsageKey(KwHelp): {
		EN: "Send HELP, or HELP <command>, e.g. HELP SEND.",
		ZH: "请发送 帮助，或 帮助 <指令>，如 帮助 转账。",
	},
	UsageKey(KwLink): {
		EN: "Send: LINK <bank> <account>, e.g. LINK PGB 6222020012345678",
		ZH: "格式：绑定 <银行代码> <账号>，如 绑定 PGB 6222020012345678",
	},
	UsageKey(KwPIN): {
		EN: "Send PIN <new> <new> to set your PIN, or PIN <old> <new> <new> to change it.",
		ZH: "设置密码：密码 <新密码> <新密码>；修改密码：密码 <旧密码> <新密码> <新密码>。",
	},
	UsageKey(KwSend): {
		EN: "Send: SEND <phone> <amount>, e.g. SEND 13800138000 500",
		ZH: "格式：转账 <手机号> <金额>，如 转账 13800138000 500",
	},
	UsageKey(KwPay): {
		EN: "Send: PAY <merchant> <amount> <ref>, the ref being optional, e.g. PAY SHOP01 250 INV42",
		ZH: "格式：付款 <商户代码> <金额> <备注>，备注可省略，如 付款 SHOP01 250 INV42",
	},
	UsageKey(KwBal): {
		EN: "Send BAL alone; we then ask for your PIN.",
		ZH: "请只发送 余额，我们随后会请您输入密码。",
	},
	UsageKey(KwMini): {
		EN: "Send MINI alone; we then ask for your PIN.",
		ZH: "请只发送 明细，我们随后会请您输入密码。",
	},
	UsageKey(KwAccounts): {
		EN: "Send ACCOUNTS alone for your accounts, or DEFAULT <n> to choose the one that pays, e.g. DEFAULT 2.",
		ZH: "发送 账户 查看账户列表，或 账户 <序号> 选择默认付款账户，如 账户 2。",
	},
	UsageKey(KwDefault): {
		EN: "Send: DEFAULT <n>, n from your ACCOUNTS list, e.g. DEFAULT 2",
		ZH: "格式：账户 <序号>，序号见账户列表，如 账户 2",
	},
	UsageKey(KwOK): {
		EN: "Answer a PIN request with: OK <PIN>",
		ZH: "回复密码请求的格式：确认 <密码>",
	},
	UsageKey(KwCode): {
		EN: "Send the 6-digit code alone, as we texted it.",
		ZH: "请直接回复短信中的6位验证码。",
	},
	UsageKey(KwLang): {
		EN: "Send LANG EN for English or LANG ZH for Chinese.",
		ZH: "发送 语言 ZH 使用中文，或 语言 EN 使用英文。",
	},
	UsageKey(KwResend): {
		EN: "Send RESEND alone.",
		ZH: "请只发送 重发。",
	},
	UsageKey(KwStatus): {
		EN: "Send: STATUS <ref>, the reference in our SMS, e.g. STATUS T7K2QXM4",
		ZH: "格式：查询 <编号>，编号见我们的短信，如 查询 T7K2QXM4",
	},
	UsageKey(KwUnlink): {
		EN: "Send: UNLINK <n>, n from your ACCOUNTS list, e.g. UNLINK 2",
		ZH: "格式：解绑 <序号>，序号见账户列表，如 解绑 2",
	},
	UsageKey(KwResetPIN): {
		EN: "Send RESETPIN alone; we then check this phone with your bank.",
		ZH: "请只发送 重置密码，我们随后会向银行核实本手机。",
	},
}

var reasonTexts = map[Key]Entry{
	ReasonKey(ReasonMissing):        {EN: "Something is missing.", ZH: "内容不完整。"},
	ReasonKey(ReasonExtra):          {EN: "There is too much after the command.", ZH: "指令后多了内容。"},
	ReasonKey(ReasonPhone):          {EN: "That is not a phone number.", ZH: "手机号码无效。"},
	ReasonKey(ReasonAmount):         {EN: "That is not an amount.", ZH: "金额无效。"},
	ReasonKey(ReasonAmountZero):     {EN: "The amount must be more than 0.", ZH: "金额必须大于0。"},
	ReasonKey(ReasonAmountDecimals): {EN: "An amount has at most 2 decimals.", ZH: "金额最多两位小数。"},
	ReasonKey(ReasonAmountTooLarge): {EN: "The amount is too large.", ZH: "金额过大。"},
	ReasonKey(ReasonMerchant):       {EN: "That is not a merchant code.", ZH: "商户代码无效。"},
	ReasonKey(ReasonRef):            {EN: "The reference is too long (40 characters at most).", ZH: "备注过长（最多40个字符）。"},
	ReasonKey(ReasonPINFormat):      {EN: "A PIN is {pin_length} digits.", ZH: "密码为{pin_length}位数字。"},
	ReasonKey(ReasonPINTrivial):     {EN: "That PIN is too easy to guess: avoid repeated or sequential digits.", ZH: "密码过于简单，请勿使用重复或连续的数字。"},
	ReasonKey(ReasonPINMismatch):    {EN: "The two new PINs are not the same.", ZH: "两次输入的新密码不一致。"},
	ReasonKey(ReasonCodeFormat):     {EN: "A code is 6 digits.", ZH: "验证码为6位数字。"},
	ReasonKey(ReasonNumber):         {EN: "Give the number of an account in your ACCOUNTS list, 1 to 5.", ZH: "请输入账户列表中的序号（1至5）。"},
	ReasonKey(ReasonLang):           {EN: "That language is not offered.", ZH: "不支持该语言。"},
	ReasonKey(ReasonTopic):          {EN: "There is no help on that.", ZH: "没有该指令的说明。"},
	ReasonKey(ReasonBank):           {EN: "That is not a bank code.", ZH: "银行代码无效。"},
	ReasonKey(ReasonAccount):        {EN: "That is not an account number.", ZH: "账号无效。"},
	ReasonKey(ReasonTransferRef):    {EN: "That is not a transfer reference.", ZH: "转账编号无效。"},
}

// Fill replaces each {name} of text that vars has, as Text does: for
// another package's catalogue (the USSD screens) over the same Vars.
func Fill(text string, vars Vars) string { return fill(text, vars) }
