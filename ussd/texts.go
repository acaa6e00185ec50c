package ussd

import "github.com/paygate/paygate/flows"

// The screens, in English and Chinese. A screen's {name} placeholders are
// filled from the Vars of the flows answer it shows (amount, payee, fee,
// ref, account …) and from the engine's own (pin_length, currency,
// service_code, short_code). Every screen, filled with the longest
// values it can take, fits the screen limit (a test holds it: 182 GSM-7
// characters, 80 UCS-2).
type textKey string

const (
	tMain         textKey = "main"
	tWelcome      textKey = "welcome"
	tSetPIN       textKey = "setpin.new"
	tSetPINAgain  textKey = "setpin.again"
	tPINsDiffer   textKey = "pin.differ"
	tPINFormat    textKey = "pin.format"
	tLinkBank     textKey = "link.bank"
	tLinkAccount  textKey = "link.account"
	tLinkPIN      textKey = "link.pin"
	tLinkCode     textKey = "link.code"
	tSendPayee    textKey = "send.payee"
	tPayMerchant  textKey = "pay.merchant"
	tAmount       textKey = "amount"
	tSendConfirm  textKey = "send.confirm"
	tPayConfirm   textKey = "pay.confirm"
	tCode         textKey = "code"
	tCodeFormat   textKey = "code.format"
	tAuthorized   textKey = "authorized"
	tBalPIN       textKey = "bal.pin"
	tMiniPIN      textKey = "mini.pin"
	tBySMS        textKey = "by_sms"
	tAccounts     textKey = "accounts"
	tAccount      textKey = "account"
	tUnlinkPIN    textKey = "unlink.pin"
	tOldPIN       textKey = "pin.old"
	tNewPIN       textKey = "pin.new"
	tNewPINAgain  textKey = "pin.new_again"
	tLang         textKey = "lang"
	tHelp         textKey = "help"
	tBye          textKey = "bye"
	tInvalid      textKey = "invalid"
	tBadPhone     textKey = "bad.phone"
	tBadAmount    textKey = "bad.amount"
	tBadMerchant  textKey = "bad.merchant"
	tBadBank      textKey = "bad.bank"
	tBadAccount   textKey = "bad.account"
	tTimedOut     textKey = "timed_out"
	tMore         textKey = "more"
	tBack         textKey = "back"
	tPushPIN      textKey = "push.pin"
	tNoMoney      textKey = "no_money"
	tUnavailable  textKey = "unavailable"
	tPINWait      textKey = "pin.wait"
	tNoAccounts   textKey = "accounts.none"
	tWrongAnswer  textKey = "wrong"
	tCodeAfterEnd textKey = "code.later"
)

var texts = map[textKey]struct{ EN, ZH string }{
	tMain: {
		EN: "paygate\n1 Send money\n2 Pay merchant\n3 Balance\n4 Mini statement\n5 My accounts\n6 Change PIN\n7 Language\n0 Exit",
		ZH: "paygate\n1 转账\n2 付款给商户\n3 查余额\n4 最近交易\n5 我的账户\n6 修改密码\n7 语言\n0 退出",
	},
	tWelcome: {
		EN: "Welcome to paygate\n1 Link bank account\n2 Help\n0 Exit",
		ZH: "欢迎使用paygate\n1 绑定银行账户\n2 帮助\n0 退出",
	},
	tSetPIN: {
		EN: "Set your paygate PIN: {pin_length} digits, not easy to guess.\n0 Back",
		ZH: "请设置paygate密码：{pin_length}位数字，勿过于简单。\n0 返回",
	},
	tSetPINAgain: {EN: "Enter the same PIN again:\n0 Back", ZH: "请再次输入密码：\n0 返回"},
	tPINsDiffer:  {EN: "The two PINs differ.", ZH: "两次输入的密码不一致。"},
	tPINFormat:   {EN: "A PIN is {pin_length} digits.", ZH: "密码为{pin_length}位数字。"},
	tLinkBank:    {EN: "Link bank account\nBank code (e.g. PGB):\n0 Back", ZH: "绑定银行账户\n银行代码（如PGB）：\n0 返回"},
	tLinkAccount: {EN: "Account number at {bank}:\n0 Back", ZH: "{bank}账号：\n0 返回"},
	tLinkPIN:     {EN: "Link {account}\nEnter your PIN:\n0 Back", ZH: "绑定{account}\n请输入密码：\n0 返回"},
	tLinkCode: {
		EN: "We are checking {account} with your bank. Enter the code we text you:\n0 Exit (or text it back later)",
		ZH: "正在向银行核实{account}。请输入短信验证码：\n0 退出（也可稍后短信回复）",
	},
	tSendPayee:   {EN: "Send money\nPayee's phone number:\n0 Back", ZH: "转账\n收款人手机号：\n0 返回"},
	tPayMerchant: {EN: "Pay merchant\nMerchant code:\n0 Back", ZH: "付款给商户\n商户代码：\n0 返回"},
	tAmount:      {EN: "Amount in {currency}:\n0 Back", ZH: "金额（{currency}）：\n0 返回"},
	tSendConfirm: {
		EN: "Send {amount} {currency} to {payee} ({phone})\nFee {fee}, ref {ref}\nEnter PIN to confirm:\n0 Back",
		ZH: "向{payee}（{phone}）转账{amount}{currency}\n手续费{fee}，编号{ref}\n请输入密码确认：\n0 返回",
	},
	tPayConfirm: {
		EN: "Pay {amount} {currency} to {payee} ({merchant})\nFee {fee}, ref {ref}\nEnter PIN to confirm:\n0 Back",
		ZH: "向{payee}（{merchant}）付款{amount}{currency}\n手续费{fee}，编号{ref}\n请输入密码确认：\n0 返回",
	},
	tCode: {
		EN: "A code is on its way by SMS. Enter it here:\n0 Exit (or text it back later)",
		ZH: "验证码已通过短信发送，请在此输入：\n0 退出（也可稍后短信回复）",
	},
	tCodeFormat: {EN: "The code is the 6 digits in our SMS.", ZH: "验证码为短信中的6位数字。"},
	tAuthorized: {
		EN: "Confirmed: {amount} {currency} to {payee}, ref {ref}. The result will come by SMS.",
		ZH: "已确认：向{payee}支付{amount}{currency}，编号{ref}。结果将以短信通知。",
	},
	tBalPIN:      {EN: "Balance of {account}\nEnter your PIN:\n0 Back", ZH: "查询{account}余额\n请输入密码：\n0 返回"},
	tMiniPIN:     {EN: "Last 5 transactions of {account}\nEnter your PIN:\n0 Back", ZH: "查询{account}最近5笔交易\n请输入密码：\n0 返回"},
	tBySMS:       {EN: "Thank you. The answer will come by SMS.", ZH: "谢谢。结果将以短信通知。"},
	tAccounts:    {EN: "My accounts", ZH: "我的账户"},
	tAccount:     {EN: "{account}\n1 Use for payments\n2 Remove from this phone\n0 Back", ZH: "{account}\n1 设为付款账户\n2 从本机解绑\n0 返回"},
	tUnlinkPIN:   {EN: "Remove {account}\nEnter your PIN:\n0 Back", ZH: "解绑{account}\n请输入密码：\n0 返回"},
	tOldPIN:      {EN: "Change PIN\nCurrent PIN:\n0 Back", ZH: "修改密码\n当前密码：\n0 返回"},
	tNewPIN:      {EN: "New PIN ({pin_length} digits):\n0 Back", ZH: "新密码（{pin_length}位数字）：\n0 返回"},
	tNewPINAgain: {EN: "New PIN again:\n0 Back", ZH: "再次输入新密码：\n0 返回"},
	tLang:        {EN: "Language\n1 English\n2 中文\n0 Back", ZH: "语言\n1 English\n2 中文\n0 返回"},
	tHelp: {
		EN: "paygate: send money, pay merchants and see your balance here ({service_code}) or by SMS to {short_code}. First link your bank account (1). Your bank never asks for your PIN.",
		ZH: "paygate：拨打{service_code}或发短信至{short_code}，即可转账、付款、查余额。请先绑定银行账户（1）。银行不会索要您的密码。",
	},
	tBye:         {EN: "Thank you for using paygate.", ZH: "感谢使用paygate。"},
	tInvalid:     {EN: "Choose a number from the list.", ZH: "请选择列表中的数字。"},
	tBadPhone:    {EN: "That is not a phone number.", ZH: "手机号格式不对。"},
	tBadAmount:   {EN: "Enter an amount such as 500 or 12.50.", ZH: "请输入金额，如500或12.50。"},
	tBadMerchant: {EN: "A merchant code is letters and digits.", ZH: "商户代码为字母和数字。"},
	tBadBank:     {EN: "A bank code is 2 to 8 letters.", ZH: "银行代码为2至8个字母。"},
	tBadAccount:  {EN: "An account number is 8 to 30 digits.", ZH: "账号为8至30位数字。"},
	tTimedOut:    {EN: "Your session timed out. Dial {service_code} to start again.", ZH: "会话已超时。请重新拨打{service_code}。"},
	tMore:        {EN: "98 More", ZH: "98 更多"},
	tBack:        {EN: "0 Back", ZH: "0 返回"},
	tPushPIN:     {EN: "{text}\nEnter your PIN to pay:\n0 Decline", ZH: "{text}\n请输入密码付款：\n0 拒绝"},
	tNoMoney: {
		EN: "Payments are not available on this line. Text {short_code} instead.",
		ZH: "此线路不支持付款，请发短信至{short_code}。",
	},
	tUnavailable: {EN: "Sorry, paygate is not available just now. Please try again later.", ZH: "抱歉，paygate暂时无法使用，请稍后再试。"},
	tPINWait:     {EN: "Sorry, we could not check your PIN just now; nothing was counted. Enter it again:", ZH: "抱歉，暂时无法核验密码，本次不计错。请重新输入："},
	tNoAccounts:  {EN: "No account is linked to this phone.", ZH: "本手机尚未绑定账户。"},
	tWrongAnswer: {EN: "Wrong PIN or code. Try again:", ZH: "密码或验证码错误，请重试："},
	tCodeAfterEnd: {
		EN: "You can also text the code back to {short_code}.",
		ZH: "也可将验证码短信回复至{short_code}。",
	},
}

// flowTexts are flows' replies as a screen says them, where flows' own
// words are an SMS's: they quote a command to send (OK <PIN>, PIN <new>
// <new>, HELP) that a menu has no use for. A reply a screen shows is
// rendered from its key and vars (flows.OutSMS) with these words when
// there are some here, else flows' (sayFlow). A test holds that no
// reply a screen may show quotes SMS syntax.
var flowTexts = map[flows.Key]struct{ EN, ZH string }{
	// Enrolment starts from a security module, never from a menu.
	flows.KeyEnrolAskPIN: {
		EN: "Security module {device} asks to be enrolled on this phone: confirm it from the module.",
		ZH: "安全模块{device}申请在本手机登记：请在安全模块上确认。",
	},
	flows.KeyPINSet: {
		EN: "Your PIN is set. Keep it secret: we never ask for it by call.",
		ZH: "密码已设置。请妥善保管，我们不会致电索要密码。",
	},
	flows.KeyLinked:       {EN: "Linked: {account} ({holder}).", ZH: "已绑定：{account}（{holder}）。"},
	flows.KeyLinkedSetPIN: {EN: "Linked: {account} ({holder}).", ZH: "已绑定：{account}（{holder}）。"},
	flows.KeyPINFirst: {
		EN: "Set your PIN first: dial {service_code} again to set it.",
		ZH: "请先设置密码：请重新拨打{service_code}设置。",
	},
	flows.KeyPINNoneYet: {
		EN: "You have no PIN yet: dial {service_code} again to set one.",
		ZH: "您尚未设置密码：请重新拨打{service_code}设置。",
	},
	flows.KeyPINHaveOne: {
		EN: "You have a PIN already. To change it, choose 6 Change PIN in the menu.",
		ZH: "您已设置密码。如需修改，请在菜单中选择6 修改密码。",
	},
	flows.KeyAccountNone: {
		EN: "This phone has no linked bank account yet. Dial {service_code} and choose 1 Link bank account.",
		ZH: "本手机尚未绑定银行账户。请拨打{service_code}，选择1 绑定银行账户。",
	},
	flows.KeyLinkFull: {
		EN: "This phone has 5 linked accounts, the most allowed. Remove one first in My accounts.",
		ZH: "本手机已绑定5个账户，已达上限。请先在我的账户中解绑一个。",
	},
	flows.KeyAccountNoSuch: {
		EN: "There is no account {n}: you have {count}.",
		ZH: "没有第{n}个账户，您共有{count}个。",
	},
	flows.KeyAnswerWantCode: {
		EN: "We are waiting for the 6-digit code we texted you, not your PIN.",
		ZH: "我们在等待短信发送给您的6位验证码，而不是密码。",
	},
	flows.KeyAnswerWantPIN: {
		EN: "We are waiting for your PIN, not a code. Nothing was done.",
		ZH: "我们在等待您的密码，而不是验证码，未执行任何操作。",
	},
	flows.KeyAnswerWait: {
		EN: "Your bank is still being asked; the code comes by SMS in a moment.",
		ZH: "正在向您的银行核实，验证码稍后以短信发送。",
	},
	flows.KeyLocked: {
		EN: "This phone is locked after wrong PIN or code tries, until {until}. Nothing was done.",
		ZH: "因密码或验证码多次错误，本手机已锁定至{until}，未执行任何操作。",
	},
	flows.KeyStoppedRefused: {
		EN: "Payments from this phone are stopped. Nothing was done. Ask our service desk to turn them on again.",
		ZH: "本手机的支付功能已停用，未执行任何操作。请联系客服重新开通。",
	},
	flows.ReasonKey(flows.ReasonNumber): {EN: "Choose an account from the list.", ZH: "请选择列表中的账户。"},
	flows.KeyInternal: {
		EN: "Sorry, we could not do that just now. Nothing was done. Please try again later.",
		ZH: "抱歉，暂时无法办理，未执行任何操作，请稍后再试。",
	},
	// flows' refusal speaks of the message (短信, an SMS) it came by, and
	// is too long to sit above the main menu on one screen.
	flows.KeyMoneyUntrusted: {
		EN: "Payments and account changes are not available on this line.",
		ZH: "此线路不支持付款或更改账户。",
	},
}

// sayFlow is the text of flows' key in lang with vars filled in: the
// screen's words (flowTexts) if it has some, else flows'.
func sayFlow(lang flows.Lang, key flows.Key, vars flows.Vars) string {
	t, ok := flowTexts[key]
	if !ok {
		return flows.Text(lang, key, vars)
	}
	s := t.EN
	if lang == flows.Chinese && t.ZH != "" {
		s = t.ZH
	}
	return flows.Fill(s, vars)
}

// text is key's text in lang with vars filled in.
func text(lang flows.Lang, key textKey, vars flows.Vars) string {
	t, ok := texts[key]
	if !ok {
		panic("ussd: no text " + string(key)) // a bug; the tests render every key
	}
	s := t.EN
	if lang == flows.Chinese && t.ZH != "" {
		s = t.ZH
	}
	return flows.Fill(s, vars)
}
