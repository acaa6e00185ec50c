package flows

// Texts of moving money (SPEC §5.2, §5.3, §6): SEND, PAY, BAL, MINI,
// STATUS and the receipts. Placeholders: {amount} and {fee} an amount
// ("500.00"), {currency} the ISO code, {payee} the payee's masked name or
// the merchant's name, {phone} a masked phone, {merchant} a merchant code,
// {ref} the transfer's reference, {bankref} the bank's reference,
// {account} a masked account, {time} a time in the configured zone,
// {reason} a rejection in plain words (a Key*Reason text), {state} a
// state in plain words, {limit} and {left} amounts, {list} statement
// lines, {code} a one-time code (only in the code texts, sent Sensitive).
const (
	KeySendConfirm       Key = "send.confirm"        // SEND accepted: confirm with OK <PIN>
	KeyPayConfirm        Key = "pay.confirm"         // PAY accepted: confirm with OK <PIN>
	KeySendSelf          Key = "send.self"           // SEND to the phone itself
	KeySendNoPayee       Key = "send.no_payee"       // SEND to a phone with no linked account
	KeyPayNoMerchant     Key = "pay.no_merchant"     // PAY to an unknown merchant code
	KeyPayDisabled       Key = "pay.disabled"        // PAY to a disabled merchant
	KeyLimitTransfer     Key = "limit.transfer"      // over the per-transfer limit
	KeyLimitDay          Key = "limit.day"           // over the daily limit
	KeyCodeSend          Key = "code.send"           // the SMS carrying a SEND code
	KeyCodePay           Key = "code.pay"            // the SMS carrying a PAY code
	KeyAuthorized        Key = "transfer.authorized" // the code was right: the bank is asked
	KeyReceiptPayer      Key = "receipt.payer"       // SEND completed, to the payer
	KeyReceiptPayerPay   Key = "receipt.payer_pay"   // PAY completed, to the payer
	KeyReceiptPayee      Key = "receipt.payee"       // SEND completed, to the payee
	KeyReceiptMerchant   Key = "receipt.merchant"    // PAY completed, to the merchant's phone
	KeyRejected          Key = "transfer.rejected"   // the bank refused it: {reason}
	KeyWhatSend          Key = "what.send"           // names a SEND in other texts
	KeyWhatPay           Key = "what.pay"            // names a PAY
	KeyWhatBal           Key = "what.bal"            // names a BAL
	KeyWhatMini          Key = "what.mini"           // names a MINI
	KeyBalAskPIN         Key = "bal.ask_pin"         // BAL: OK <PIN>
	KeyMiniAskPIN        Key = "mini.ask_pin"        // MINI: OK <PIN>
	KeyBalance           Key = "bal.done"            // the balance
	KeyMini              Key = "mini.done"           // the statement: {list}
	KeyMiniLine          Key = "mini.line"           // one line of it
	KeyMiniEmpty         Key = "mini.empty"          // no entries
	KeyStatus            Key = "status.done"         // STATUS <ref>: {state}
	KeyReasonFunds       Key = "rejected.funds"      // rejected: insufficient funds
	KeyReasonAccount     Key = "rejected.account"    // rejected: an account cannot be used
	KeyReasonLimit       Key = "rejected.limit"      // rejected: a limit of the bank
	KeyReasonBank        Key = "rejected.bank"       // rejected: any other reason
	KeyStatePending      Key = "state.pending"       // pending_pin, pending_code
	KeyStateInFlight     Key = "state.in_flight"     // authorized, sent, unknown
	KeyStateCompleted    Key = "state.completed"     // completed
	KeyStateRejected     Key = "state.rejected"      // rejected
	KeyStateCancelled    Key = "state.cancelled"     // cancelled
	KeyStateExpired      Key = "state.expired"       // expired
	KeyTransferExpiredTo Key = "transfer.expired_to" // the expiry notice of a transfer
	KeyRequestPush       Key = "request.push"        // a merchant's push request, by SMS
	KeyRequestScreen     Key = "request.screen"      // its USSD prompt's opening line
	KeyCodeRequest       Key = "code.request"        // the SMS carrying a merchant request's code
)

var moneyTexts = map[Key]Entry{
	KeySendConfirm: {
		EN: "Send {amount} {currency} to {payee} ({phone}), fee {fee}, ref {ref}? To confirm send OK <PIN> within 5 minutes; CANCEL to stop.",
		ZH: "向{payee}（{phone}）转账{amount}{currency}，手续费{fee}，编号{ref}。确认请在5分钟内发送 确认 <密码>；发送 取消 放弃。",
	},
	KeyPayConfirm: {
		EN: "Pay {amount} {currency} to {payee} ({merchant}), fee {fee}, ref {ref}? To confirm send OK <PIN> within 5 minutes; CANCEL to stop.",
		ZH: "向{payee}（{merchant}）付款{amount}{currency}，手续费{fee}，编号{ref}。确认请在5分钟内发送 确认 <密码>；发送 取消 放弃。",
	},
	KeySendSelf: {
		EN: "You cannot send money to your own phone. Nothing was done.",
		ZH: "不能向本手机转账，未执行任何操作。",
	},
	KeySendNoPayee: {
		EN: "{phone} has no bank account linked with paygate, so it cannot receive money. Nothing was done.",
		ZH: "{phone}尚未在paygate绑定银行账户，无法收款，未执行任何操作。",
	},
	KeyPayNoMerchant: {
		EN: "There is no merchant with that code. Check the code the merchant shows. Nothing was done.",
		ZH: "没有该代码的商户，请核对商户提供的代码，未执行任何操作。",
	},
	KeyPayDisabled: {
		EN: "Merchant {merchant} is not taking payments now. Nothing was done.",
		ZH: "商户{merchant}暂停收款，未执行任何操作。",
	},
	KeyLimitTransfer: {
		EN: "{amount} {currency} is over the limit of {limit} {currency} per transfer. Nothing was done.",
		ZH: "{amount}{currency}超过单笔限额{limit}{currency}，未执行任何操作。",
	},
	KeyLimitDay: {
		EN: "That is over your daily limit of {limit} {currency}: {left} {currency} left today. Nothing was done.",
		ZH: "超过每日限额{limit}{currency}，今日剩余额度{left}{currency}，未执行任何操作。",
	},
	KeyCodeSend: {
		EN: "paygate code {code} to send {amount} {currency} to {payee}, ref {ref}. Valid until {time}. Never share it: we never ask for it by call.",
		ZH: "paygate验证码{code}，用于向{payee}转账{amount}{currency}，编号{ref}，{time}前有效。请勿告诉任何人，我们不会致电索要。",
	},
	KeyCodePay: {
		EN: "paygate code {code} to pay {amount} {currency} to {payee}, ref {ref}. Valid until {time}. Never share it: we never ask for it by call.",
		ZH: "paygate验证码{code}，用于向{payee}付款{amount}{currency}，编号{ref}，{time}前有效。请勿告诉任何人，我们不会致电索要。",
	},
	KeyRequestPush: {
		EN: "{payee} ({merchant}) asks you to pay {amount} {currency}, fee {fee}, ref {ref}. Enter your PIN on the screen that opens, or send OK <PIN> within 5 minutes; CANCEL to refuse.",
		ZH: "{payee}（{merchant}）请求您付款{amount}{currency}，手续费{fee}，编号{ref}。请在弹出的界面输入密码，或在5分钟内发送 确认 <密码>；发送 取消 拒绝。",
	},
	KeyRequestScreen: {
		EN: "{payee} asks you to pay {amount} {currency}, fee {fee}.",
		ZH: "{payee}请求付款{amount}{currency}，手续费{fee}。",
	},
	KeyCodeRequest: {
		EN: "paygate code {code} to pay {amount} {currency} to {payee}, ref {ref}. Give it to the cashier only if you are paying there now. Valid until {time}.",
		ZH: "paygate验证码{code}，用于向{payee}付款{amount}{currency}，编号{ref}。仅在您正于该店付款时告诉收银员，{time}前有效。",
	},
	KeyAuthorized: {
		EN: "Confirmed: {amount} {currency} to {payee}, ref {ref}. Your bank is making the transfer; a receipt follows by SMS.",
		ZH: "已确认：向{payee}支付{amount}{currency}，编号{ref}。银行正在处理，稍后短信发送回执。",
	},
	KeyReceiptPayer: {
		EN: "Paid {amount} {currency} to {payee} ({phone}), fee {fee}, ref {ref}, {time}. Bank ref {bankref}.",
		ZH: "已转账{amount}{currency}给{payee}（{phone}），手续费{fee}，编号{ref}，{time}。银行流水号{bankref}。",
	},
	KeyReceiptPayerPay: {
		EN: "Paid {amount} {currency} to {payee}, fee {fee}, ref {ref}, {time}. Bank ref {bankref}.",
		ZH: "已付款{amount}{currency}给{payee}，手续费{fee}，编号{ref}，{time}。银行流水号{bankref}。",
	},
	KeyReceiptPayee: {
		EN: "Received {amount} {currency} from {payee} ({phone}), ref {ref}, {time}.",
		ZH: "收到{payee}（{phone}）转账{amount}{currency}，编号{ref}，{time}。",
	},
	KeyReceiptMerchant: {
		EN: "Payment received: {amount} {currency} from {payee} ({phone}), ref {ref}, {time}.",
		ZH: "收款成功：{payee}（{phone}）付款{amount}{currency}，编号{ref}，{time}。",
	},
	KeyRejected: {
		EN: "Not paid: {amount} {currency} to {payee}, ref {ref}. {reason} Nothing was taken from your account.",
		ZH: "支付失败：向{payee}支付{amount}{currency}，编号{ref}。{reason}您的账户未被扣款。",
	},
	KeyReasonFunds: {
		EN: "There is not enough money in your account.",
		ZH: "您的账户余额不足。",
	},
	KeyReasonAccount: {
		EN: "Your bank cannot use one of the accounts (closed or blocked).",
		ZH: "银行无法使用其中一个账户（已销户或冻结）。",
	},
	KeyReasonLimit: {
		EN: "It is over a limit your bank sets.",
		ZH: "超过银行设定的限额。",
	},
	KeyReasonBank: {
		EN: "Your bank refused it.",
		ZH: "银行拒绝了该笔交易。",
	},
	KeyWhatSend: {
		EN: "SEND of {amount} {currency} to {payee} (ref {ref})",
		ZH: "向{payee}转账{amount}{currency}（编号{ref}）",
	},
	KeyWhatPay: {
		EN: "PAY of {amount} {currency} to {payee} (ref {ref})",
		ZH: "向{payee}付款{amount}{currency}（编号{ref}）",
	},
	KeyWhatBal: {
		EN: "balance request",
		ZH: "余额查询",
	},
	KeyWhatMini: {
		EN: "mini statement request",
		ZH: "明细查询",
	},
	KeyBalAskPIN: {
		EN: "To see the balance of {account}, send OK <PIN>. CANCEL to stop.",
		ZH: "查询{account}余额，请发送 确认 <密码>。发送 取消 放弃。",
	},
	KeyMiniAskPIN: {
		EN: "To see the last 5 transactions of {account}, send OK <PIN>. CANCEL to stop.",
		ZH: "查询{account}最近5笔交易，请发送 确认 <密码>。发送 取消 放弃。",
	},
	KeyBalance: {
		EN: "Balance of {account}: {amount} {currency} available, {time}.",
		ZH: "{account}可用余额：{amount}{currency}，{time}。",
	},
	KeyMini: {
		EN: "Last transactions of {account}: {list}.",
		ZH: "{account}最近交易：{list}。",
	},
	KeyMiniLine: {
		EN: "{time} {amount} {account} ref {ref}",
		ZH: "{time} {amount} {account} 编号{ref}",
	},
	KeyMiniEmpty: {
		EN: "No transactions yet on {account}.",
		ZH: "{account}暂无交易。",
	},
	KeyStatus: {
		EN: "Ref {ref}, {amount} {currency} to {payee}: {state}",
		ZH: "编号{ref}，向{payee}支付{amount}{currency}：{state}",
	},
	KeyStatePending: {
		EN: "waiting for your confirmation.",
		ZH: "等待您确认。",
	},
	KeyStateInFlight: {
		EN: "with the bank; a receipt follows by SMS.",
		ZH: "银行处理中，稍后短信发送回执。",
	},
	KeyStateCompleted: {
		EN: "paid. Bank ref {bankref}.",
		ZH: "已完成。银行流水号{bankref}。",
	},
	KeyStateRejected: {
		EN: "not paid. {reason}",
		ZH: "支付失败。{reason}",
	},
	KeyStateCancelled: {
		EN: "cancelled; nothing was paid.",
		ZH: "已取消，未付款。",
	},
	KeyStateExpired: {
		EN: "expired unconfirmed; nothing was paid.",
		ZH: "超时未确认，已失效，未付款。",
	},
	KeyTransferExpiredTo: {
		EN: "Your {what} expired after 5 minutes with no answer. Nothing was paid; please start again.",
		ZH: "您的{what}已超过5分钟未确认，已失效，未付款，请重新开始。",
	},
}
