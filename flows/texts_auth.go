package flows

// Texts of linking accounts, PINs, codes and lockout (SPEC §5.1, §5.5).
// Placeholders: {account} a masked account ("PGB ****0001"), {holder} a
// masked name, {until} and {time} a time in the configured zone, {what}
// an operation as named by a Key*What text, {n} and {count} positions,
// {code} a one-time code (only in the code texts, sent Sensitive).
const (
	KeyReplaced           Key = "pending.replaced"      // prefix: a new command replaced the pending prompt
	KeyExpired            Key = "pending.expired"       // an answer to a prompt that expired
	KeyCancelled          Key = "pending.cancelled"     // CANCEL done
	KeyAnswerWantCode     Key = "answer.want_code"      // OK <PIN> where a code is awaited
	KeyAnswerWantPIN      Key = "answer.want_pin"       // a code where OK <PIN> is awaited
	KeyAnswerWait         Key = "answer.wait"           // an answer while the bank is being asked
	KeyWhatLink           Key = "what.link"             // names a LINK in other texts
	KeyWhatResetPIN       Key = "what.resetpin"         // names a RESETPIN
	KeyWhatUnlink         Key = "what.unlink"           // names an UNLINK
	KeyTryAgain           Key = "auth.try_again"        // the PIN could not be checked; nothing counted
	KeyAuthFailed         Key = "auth.failed"           // wrong PIN or code: one text for both
	KeyAuthBusy           Key = "auth.busy"             // too many PIN attempts in flight
	KeyAuthLocked         Key = "auth.locked"           // the 3rd failure: locked until {until} (the alert)
	KeyAuthLastWarning    Key = "auth.last_warning"     // the 5th failure: one more locks until an operator acts
	KeyAuthOperatorLocked Key = "auth.operator_locked"  // the 6th failure (the alert)
	KeyLocked             Key = "locked"                // a refused command while locked until {until}
	KeyLockedOperator     Key = "locked.operator"       // a refused command while locked by the operator mark
	KeyUnlocked           Key = "unlocked"              // an operator unlocked the phone
	KeyBlocked            Key = "blocked"               // an operator blocked the phone
	KeyStopped            Key = "stop.done"             // STOP done
	KeyStoppedRefused     Key = "stop.refused"          // a payment from a stopped phone
	KeyPINFirst           Key = "pin.first"             // something that needs a PIN, none set yet
	KeyPINSet             Key = "pin.set"               // a first PIN set
	KeyPINChanged         Key = "pin.changed"           // PIN changed (also after RESETPIN)
	KeyPINHaveOne         Key = "pin.have_one"          // PIN <new> <new> when a PIN exists
	KeyPINNoneYet         Key = "pin.none_yet"          // PIN <old> <new> <new> with no PIN
	KeyPINSame            Key = "pin.same"              // new PIN equals the old one
	KeyAccountList        Key = "accounts.list"         // ACCOUNTS: {list}
	KeyAccountLine        Key = "accounts.line"         // one line of the list
	KeyAccountLineDefault Key = "accounts.line_default" // the default account's line
	KeyAccountNoSuch      Key = "accounts.no_such"      // DEFAULT/UNLINK <n> out of range
	KeyDefaultSet         Key = "accounts.default"      // DEFAULT done
	KeyLinkAlready        Key = "link.already"          // the account is linked already
	KeyLinkFull           Key = "link.full"             // MaxAccounts linked
	KeyLinkAskPIN         Key = "link.ask_pin"          // LINK on a phone with a PIN: OK <PIN> first
	KeyLinkChecking       Key = "link.checking"         // the bank is being asked
	KeyLinkRefused        Key = "link.refused"          // the bank said no (either way)
	KeyLinked             Key = "link.done"             // linked
	KeyLinkedSetPIN       Key = "link.done_set_pin"     // linked, the first: now set a PIN
	KeyLinkDone           Key = "link.status"           // the LINK code presented again
	KeyCodeLink           Key = "code.link"             // the SMS carrying a LINK code
	KeyCodeResetPIN       Key = "code.resetpin"         // the SMS carrying a RESETPIN code
	KeyCodeBudget         Key = "code.budget"           // 5 codes in the last hour
	KeyResetChecking      Key = "resetpin.checking"     // RESETPIN: the bank is being asked
	KeyResetRefused       Key = "resetpin.refused"      // the bank did not confirm the phone
	KeyResetAskPIN        Key = "resetpin.ask_pin"      // code right: send the new PIN
	KeyResetDone          Key = "resetpin.status"       // a RESETPIN code presented again, PIN set
	KeyUnlinkAskPIN       Key = "unlink.ask_pin"        // UNLINK: OK <PIN>
	KeyUnlinked           Key = "unlink.done"           // unlinked
	KeyBankUnavailable    Key = "bank.unavailable"      // the bank did not answer in time
)

var authTexts = map[Key]Entry{
	KeyReplaced: {
		EN: "Your pending {what} was cancelled.",
		ZH: "您待处理的{what}已取消。",
	},
	KeyExpired: {
		EN: "Your {what} expired after 5 minutes with no answer. Nothing was done; please start again.",
		ZH: "您的{what}已超过5分钟未确认，已失效，未执行任何操作，请重新开始。",
	},
	KeyCancelled: {
		EN: "Cancelled: {what}. Nothing was done.",
		ZH: "已取消：{what}，未执行任何操作。",
	},
	KeyAnswerWantCode: {
		EN: "We are waiting for the 6-digit code we texted you, not your PIN. Send the code alone, or RESEND for a new one.",
		ZH: "我们在等待短信发送给您的6位验证码，而不是密码。请直接回复验证码，或发送 重发 获取新验证码。",
	},
	KeyAnswerWantPIN: {
		EN: "We are waiting for your PIN: send OK <PIN>.",
		ZH: "我们在等待您的密码：请发送 确认 <密码>。",
	},
	KeyAnswerWait: {
		EN: "Your bank is still being asked. You will get an SMS in a moment; nothing to answer yet.",
		ZH: "正在向您的银行核实，稍后将短信通知您，暂时无需回复。",
	},
	KeyWhatLink: {
		EN: "LINK of {account}",
		ZH: "绑定{account}",
	},
	KeyWhatResetPIN: {
		EN: "PIN reset",
		ZH: "重置密码",
	},
	KeyWhatUnlink: {
		EN: "UNLINK of {account}",
		ZH: "解绑{account}",
	},
	KeyTryAgain: {
		EN: "Sorry, we could not check that just now. Nothing was counted; please send it again.",
		ZH: "抱歉，暂时无法核验，本次不计入错误次数，请重新发送。",
	},
	KeyAuthFailed: {
		EN: "Wrong PIN or code. Please try again. After 3 wrong tries in a row the phone is locked for 24 hours.",
		ZH: "密码或验证码错误，请重试。连续错误3次将锁定24小时。",
	},
	KeyAuthBusy: {
		EN: "Your previous PIN is still being checked. Wait for its answer, then try again.",
		ZH: "您上一次输入的密码正在核验，请等待结果后再试。",
	},
	KeyAuthLocked: {
		EN: "paygate alert: 3 wrong PIN or code tries in a row. Payments from this phone are locked until {until}. If this was not you, call your bank.",
		ZH: "paygate提醒：密码或验证码连续错误3次，本手机的支付功能已锁定至{until}。如非本人操作，请联系您的银行。",
	},
	KeyAuthLastWarning: {
		EN: "paygate alert: 5 wrong PIN or code tries in a row. One more and this phone is locked until an operator unlocks it.",
		ZH: "paygate提醒：密码或验证码已连续错误5次。再错1次，本手机将被锁定，需联系客服解锁。",
	},
	KeyAuthOperatorLocked: {
		EN: "paygate alert: 6 wrong PIN or code tries in a row. Payments from this phone are locked until our service desk unlocks them. Call your bank.",
		ZH: "paygate提醒：密码或验证码连续错误6次，本手机的支付功能已锁定，需客服解锁。请联系您的银行。",
	},
	KeyLocked: {
		EN: "This phone is locked after wrong PIN or code tries, until {until}. Nothing was done. HELP, LANG, STATUS and STOP still work.",
		ZH: "因密码或验证码多次错误，本手机已锁定至{until}，未执行任何操作。帮助、语言、查询、停用仍可使用。",
	},
	KeyLockedOperator: {
		EN: "This phone is locked after repeated wrong PIN or code tries, until our service desk unlocks it. Nothing was done. Call your bank.",
		ZH: "因密码或验证码多次错误，本手机已锁定，需客服解锁，未执行任何操作。请联系您的银行。",
	},
	KeyUnlocked: {
		EN: "paygate: your phone was unlocked by our service desk. You can use your PIN again.",
		ZH: "paygate：客服已为您的手机解锁，可以重新使用密码。",
	},
	KeyBlocked: {
		EN: "paygate: our service desk blocked payments from this phone until it unblocks them. Pending operations were cancelled. Call your bank if you did not ask for this.",
		ZH: "paygate：客服已暂停本手机的支付功能，待处理的操作已取消。如非本人申请，请联系您的银行。",
	},
	KeyStopped: {
		EN: "Payments from this phone are stopped. Only our service desk can turn them on again. Pending operations were cancelled.",
		ZH: "本手机的支付功能已停用，需客服重新开通。待处理的操作已取消。",
	},
	KeyStoppedRefused: {
		EN: "Payments from this phone are stopped (STOP). Nothing was done. Ask our service desk to turn them on again.",
		ZH: "本手机的支付功能已停用，未执行任何操作。请联系客服重新开通。",
	},
	KeyPINFirst: {
		EN: "Set your PIN first: PIN <new> <new>, with {pin_length} digits.",
		ZH: "请先设置密码：密码 <新密码> <新密码>，{pin_length}位数字。",
	},
	KeyPINSet: {
		EN: "Your PIN is set. Keep it secret: we never ask for it by call. Send HELP for what you can do.",
		ZH: "密码已设置。请妥善保管，我们不会致电索要密码。发送 帮助 查看可用功能。",
	},
	KeyPINChanged: {
		EN: "Your PIN is changed. If you did not do this, call your bank.",
		ZH: "密码已修改。如非本人操作，请联系您的银行。",
	},
	KeyPINHaveOne: {
		EN: "You have a PIN already. To change it: PIN <old> <new> <new>. Forgot it? Send RESETPIN.",
		ZH: "您已设置密码。修改请发送：密码 <旧密码> <新密码> <新密码>。忘记密码请发送 重置密码。",
	},
	KeyPINNoneYet: {
		EN: "You have no PIN yet. Set one: PIN <new> <new>, with {pin_length} digits.",
		ZH: "您尚未设置密码。请发送：密码 <新密码> <新密码>，{pin_length}位数字。",
	},
	KeyPINSame: {
		EN: "The new PIN is the same as the old one. Nothing was changed.",
		ZH: "新密码与旧密码相同，未作更改。",
	},
	KeyAccountList: {
		EN: "Your accounts: {list}. DEFAULT <n> picks the one payments use.",
		ZH: "您的账户：{list}。发送 账户 <序号> 设为默认付款账户。",
	},
	KeyAccountLine: {
		EN: "{n} {account}",
		ZH: "第{n}个：{account}",
	},
	KeyAccountLineDefault: {
		EN: "{n} {account} (default)",
		ZH: "第{n}个：{account}（默认）",
	},
	KeyAccountNoSuch: {
		EN: "There is no account {n}: you have {count}. Send ACCOUNTS for the list.",
		ZH: "没有第{n}个账户，您共有{count}个。发送 账户 查看列表。",
	},
	KeyDefaultSet: {
		EN: "Payments now use {account}.",
		ZH: "默认付款账户已改为{account}。",
	},
	KeyLinkAlready: {
		EN: "{account} is already linked to this phone.",
		ZH: "{account}已绑定本手机。",
	},
	KeyLinkFull: {
		EN: "This phone has 5 linked accounts, the most allowed. Remove one first: UNLINK <n>.",
		ZH: "本手机已绑定5个账户，已达上限。请先解绑：解绑 <序号>。",
	},
	KeyLinkAskPIN: {
		EN: "To link {account}, confirm with your PIN: send OK <PIN>. CANCEL to stop.",
		ZH: "绑定{account}，请发送 确认 <密码>。发送 取消 放弃。",
	},
	KeyLinkChecking: {
		EN: "We are checking {account} with your bank. If it is yours, a code comes by SMS: send it back to finish.",
		ZH: "正在向银行核实{account}。核实通过后将短信发送验证码，请回复验证码完成绑定。",
	},
	KeyLinkRefused: {
		EN: "Your bank did not confirm {account} for this phone. Nothing was linked. Check the bank code and number, or ask your bank which phone it has on file.",
		ZH: "银行未能确认{account}属于本手机，未绑定。请核对银行代码和账号，或向银行确认预留手机号。",
	},
	KeyLinked: {
		EN: "Linked: {account} ({holder}). Send ACCOUNTS to see your accounts.",
		ZH: "已绑定：{account}（{holder}）。发送 账户 查看您的账户。",
	},
	KeyLinkedSetPIN: {
		EN: "Linked: {account} ({holder}). Now set your PIN: PIN <new> <new>, with {pin_length} digits.",
		ZH: "已绑定：{account}（{holder}）。请设置密码：密码 <新密码> <新密码>，{pin_length}位数字。",
	},
	KeyLinkDone: {
		EN: "That code was used already: {account} is linked.",
		ZH: "该验证码已使用：{account}已绑定。",
	},
	KeyCodeLink: {
		EN: "paygate code {code} to link {account} to this phone. Valid until {time}. Never share it: we never ask for it by call.",
		ZH: "paygate验证码{code}，用于绑定{account}，{time}前有效。请勿告诉任何人，我们不会致电索要。",
	},
	KeyCodeResetPIN: {
		EN: "paygate code {code} to reset your PIN. Valid until {time}. Never share it: we never ask for it by call.",
		ZH: "paygate验证码{code}，用于重置密码，{time}前有效。请勿告诉任何人，我们不会致电索要。",
	},
	KeyCodeBudget: {
		EN: "Too many codes were sent to this phone in the last hour. Your {what} was cancelled; try again after {time}.",
		ZH: "过去1小时内发送的验证码过多，您的{what}已取消，请于{time}后再试。",
	},
	KeyResetChecking: {
		EN: "We are checking this phone with your bank for {account}. If it matches, a code comes by SMS: send it back.",
		ZH: "正在向银行核实本手机与{account}。核实通过后将短信发送验证码，请回复验证码。",
	},
	KeyResetRefused: {
		EN: "Your bank did not confirm this phone for {account}. Your PIN was not reset. Ask your bank which phone it has on file.",
		ZH: "银行未能确认本手机与{account}匹配，密码未重置。请向银行确认预留手机号。",
	},
	KeyResetAskPIN: {
		EN: "Code accepted. Now send your new PIN: PIN <new> <new>, with {pin_length} digits, within 5 minutes.",
		ZH: "验证码正确。请在5分钟内发送新密码：密码 <新密码> <新密码>，{pin_length}位数字。",
	},
	KeyResetDone: {
		EN: "That code was used already: your PIN reset is done.",
		ZH: "该验证码已使用：密码已重置。",
	},
	KeyUnlinkAskPIN: {
		EN: "To remove {account} from this phone, send OK <PIN>. CANCEL to stop.",
		ZH: "解绑{account}，请发送 确认 <密码>。发送 取消 放弃。",
	},
	KeyUnlinked: {
		EN: "Removed: {account} is no longer linked to this phone.",
		ZH: "已解绑：{account}不再绑定本手机。",
	},
	KeyBankUnavailable: {
		EN: "Your bank did not answer in time, so your {what} was stopped. Nothing was done; please try again later.",
		ZH: "银行未能及时响应，您的{what}已终止，未执行任何操作，请稍后再试。",
	},
}
