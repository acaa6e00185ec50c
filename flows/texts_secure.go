package flows

// Texts of the secure channel (SPEC §9): enrolling a security module,
// envelopes the policy requires, integrity. Placeholders: {device} a
// device id (16 hex digits, public), {why} a KeySecureWhy* text, {code}
// and {time} as in the code texts.
const (
	KeySecureRequired   Key = "secure.required"    // a plaintext payment where envelopes are required
	KeySecureOff        Key = "secure.off"         // payments are off: the device's integrity is not established
	KeySecureOn         Key = "secure.on"          // a good report turned payments on again
	KeySecureWhyNone    Key = "secure.why.none"    // {why}: no session started yet
	KeySecureWhyPending Key = "secure.why.pending" // {why}: a report is awaited
	KeySecureWhyFailed  Key = "secure.why.failed"  // {why}: the report failed
	KeySecureWhyMissing Key = "secure.why.missing" // {why}: no report came
	KeyEnvelopeRefused  Key = "secure.refused"     // a sealed message was refused
	KeyEnrolFirst       Key = "enrol.first"        // enrolment needs a linked account and a PIN
	KeyEnrolAskPIN      Key = "enrol.ask_pin"      // enrolment: OK <PIN>
	KeyCodeEnrol        Key = "code.enrol"         // the SMS carrying an enrolment code
	KeyEnrolled         Key = "enrol.done"         // the device is the phone's now
	KeyEnrolGone        Key = "enrol.gone"         // the device was revoked or enrolled meanwhile
	KeyWhatEnrol        Key = "what.enrol"         // names an enrolment
)

var secureTexts = map[Key]Entry{
	KeySecureRequired: {
		EN: "Payments from this phone must be sent through its security module. Nothing was done.",
		ZH: "本手机的付款须通过安全模块发送，未执行任何操作。",
	},
	KeySecureOff: {
		EN: "Payments are off for this phone: {why} Balance and help still work. Open your security module to check it again.",
		ZH: "本手机已暂停付款：{why}余额查询和帮助仍可使用。请打开安全模块重新检测。",
	},
	KeySecureOn: {
		EN: "Your phone's security check passed. Payments are on.",
		ZH: "手机安全检测已通过，付款功能已开启。",
	},
	KeySecureWhyNone: {
		EN: "its security module has not been checked yet.",
		ZH: "安全模块尚未检测。",
	},
	KeySecureWhyPending: {
		EN: "its security check has not finished.",
		ZH: "安全检测尚未完成。",
	},
	KeySecureWhyFailed: {
		EN: "its security check failed.",
		ZH: "安全检测未通过。",
	},
	KeySecureWhyMissing: {
		EN: "its security check did not come back in time.",
		ZH: "安全检测未按时返回。",
	},
	KeyEnvelopeRefused: {
		EN: "A secure message from this phone was refused: it was old, altered or for another key. Nothing was done.",
		ZH: "本手机的一条加密短信被拒绝：已过期、被篡改或密钥不符，未执行任何操作。",
	},
	KeyEnrolFirst: {
		EN: "To enrol a security module, first link an account and set your PIN.",
		ZH: "登记安全模块前，请先绑定账户并设置密码。",
	},
	KeyEnrolAskPIN: {
		EN: "To enrol security module {device} on this phone, send OK <PIN>. CANCEL to stop.",
		ZH: "在本手机登记安全模块{device}，请发送 确认 <密码>。发送 取消 放弃。",
	},
	KeyCodeEnrol: {
		EN: "paygate code {code} to enrol security module {device}. Valid until {time}. Never share it: we never ask for it by call.",
		ZH: "paygate验证码{code}，用于登记安全模块{device}，{time}前有效。请勿告诉任何人，我们不会致电索要。",
	},
	KeyEnrolled: {
		EN: "Security module {device} is enrolled. Replies to this phone now come sealed.",
		ZH: "安全模块{device}已登记，此后回复均为加密短信。",
	},
	KeyEnrolGone: {
		EN: "Security module {device} can no longer be enrolled: it was revoked or enrolled already. Nothing was done.",
		ZH: "安全模块{device}已被吊销或已登记，无法登记，未执行任何操作。",
	},
	KeyWhatEnrol: {
		EN: "enrolment of security module {device}",
		ZH: "安全模块{device}登记",
	},
}
