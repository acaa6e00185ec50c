package flows

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Command
	}{
		// HELP
		{"help", "HELP", CmdHelp{}},
		{"help lower case", "help", CmdHelp{}},
		{"help mixed case padded", "  HeLp  ", CmdHelp{}},
		{"help question mark", "?", CmdHelp{}},
		{"help with question mark", "help?", CmdHelp{}},
		{"help topic", "HELP SEND", CmdHelp{Topic: KwSend}},
		{"help topic lower", "help pay", CmdHelp{Topic: KwPay}},
		{"help topic chinese", "帮助 转账", CmdHelp{Topic: KwSend}},
		{"help chinese", "帮助", CmdHelp{}},
		{"help traditional", "幫助", CmdHelp{}},
		{"help chinese glued topic", "帮助转账", CmdHelp{Topic: KwSend}},
		{"help chinese punctuation", "帮助。", CmdHelp{}},
		{"help topic code", "HELP CODE", CmdHelp{Topic: KwCode}},
		{"help topic reset pin words", "HELP RESET PIN", CmdHelp{Topic: KwResetPIN}},
		{"help ignores the rest", "HELP SEND please", CmdHelp{Topic: KwSend}},
		{"help topic resetpin chinese", "帮助 重置密码", CmdHelp{Topic: KwResetPIN}},
		// LINK
		{"link", "LINK PGB 6222020012345678", CmdLink{Bank: "PGB", Account: "6222020012345678"}},
		{"link lower case", "link pgb 6222020012345678", CmdLink{Bank: "PGB", Account: "6222020012345678"}},
		{"link grouped account", "LINK PGB 6222 0200 1234 5678", CmdLink{Bank: "PGB", Account: "6222020012345678"}},
		{"link dashed account", "LINK PGB 6222-0200-1234-5678", CmdLink{Bank: "PGB", Account: "6222020012345678"}},
		{"link iban-like account", "LINK PGB de89370400440532013000", CmdLink{Bank: "PGB", Account: "DE89370400440532013000"}},
		{"link chinese", "绑定 PGB 6222020012345678", CmdLink{Bank: "PGB", Account: "6222020012345678"}},
		{"link chinese glued", "绑定PGB 6222020012345678", CmdLink{Bank: "PGB", Account: "6222020012345678"}},
		// PIN
		{"pin set", "PIN 482915 482915", CmdPIN{New: "482915", Confirm: "482915"}},
		{"pin change", "PIN 111111 482915 482915", CmdPIN{Old: "111111", New: "482915", Confirm: "482915"}},
		{"pin four digits", "pin 4829 4829", CmdPIN{New: "4829", Confirm: "4829"}},
		{"pin chinese", "密码 482915 482915", CmdPIN{New: "482915", Confirm: "482915"}},
		{"pin chinese glued", "密码482915 482915", CmdPIN{New: "482915", Confirm: "482915"}},
		{"pin traditional", "密碼 482915 482915", CmdPIN{New: "482915", Confirm: "482915"}},
		{"pin full-width", "ＰＩＮ　４８２９１５　４８２９１５", CmdPIN{New: "482915", Confirm: "482915"}},
		// SEND
		{"send", "SEND 13800138000 500", CmdSend{Payee: "13800138000", Amount: 50000}},
		{"send lower", "send 13800138000 500.5", CmdSend{Payee: "13800138000", Amount: 50050}},
		{"send international", "SEND +8613800138000 1,000", CmdSend{Payee: "+8613800138000", Amount: 100000}},
		{"send 00", "SEND 008613800138000 1,000.50", CmdSend{Payee: "008613800138000", Amount: 100050}},
		{"send extra spaces", "  SEND   13800138000 \t 500  ", CmdSend{Payee: "13800138000", Amount: 50000}},
		{"send newline", "SEND\n13800138000\r\n500", CmdSend{Payee: "13800138000", Amount: 50000}},
		{"send chinese", "转账 13800138000 500", CmdSend{Payee: "13800138000", Amount: 50000}},
		{"send chinese glued", "转账13800138000 500", CmdSend{Payee: "13800138000", Amount: 50000}},
		{"send traditional", "轉賬 13800138000 500", CmdSend{Payee: "13800138000", Amount: 50000}},
		{"send full-width", "ＳＥＮＤ　１３８００１３８０００　５００．５０", CmdSend{Payee: "13800138000", Amount: 50050}},
		{"send full-width comma", "转账 13800138000 １，０００", CmdSend{Payee: "13800138000", Amount: 100000}},
		{"send ideographic spaces", "转账　　13800138000　500", CmdSend{Payee: "13800138000", Amount: 50000}},
		{"send no-break space", "SEND\u00a013800138000\u00a0500", CmdSend{Payee: "13800138000", Amount: 50000}},
		{"send zero-width space", "SE\u200bND 13800138000 500", CmdSend{Payee: "13800138000", Amount: 50000}},
		{"send arabic-indic digits", "SEND ١٣٨٠٠١٣٨٠٠٠ ٥٠٠", CmdSend{Payee: "13800138000", Amount: 50000}},
		{"send glued digits", "SEND13800138000 500", CmdSend{Payee: "13800138000", Amount: 50000}},
		// PAY
		{"pay", "PAY SHOP01 250", CmdPay{Merchant: "SHOP01", Amount: 25000}},
		{"pay ref", "PAY shop01 250 INV42", CmdPay{Merchant: "SHOP01", Amount: 25000, Ref: "INV42"}},
		{"pay ref words", "PAY SHOP01 250  table   7", CmdPay{Merchant: "SHOP01", Amount: 25000, Ref: "table 7"}},
		{"pay numeric merchant", "PAY 888880 99.99 acc-12", CmdPay{Merchant: "888880", Amount: 9999, Ref: "acc-12"}},
		{"pay chinese", "付款 SHOP01 250 午餐", CmdPay{Merchant: "SHOP01", Amount: 25000, Ref: "午餐"}},
		// BAL MINI ACCOUNTS DEFAULT
		{"bal", "BAL", CmdBal{}},
		{"balance", "balance", CmdBal{}},
		{"bal chinese", "余额", CmdBal{}},
		{"bal chinese full stop", "余额。", CmdBal{}},
		{"mini", "mini", CmdMini{}},
		{"mini chinese", "明细", CmdMini{}},
		{"accounts", "ACCOUNTS", CmdAccounts{}},
		{"accounts chinese", "账户", CmdAccounts{}},
		{"accounts chinese with n", "账户 2", CmdDefault{N: 2}},
		{"accounts with n", "ACCOUNTS 3", CmdDefault{N: 3}},
		{"default", "DEFAULT 2", CmdDefault{N: 2}},
		{"default glued", "default2", CmdDefault{N: 2}},
		{"default chinese", "默认 5", CmdDefault{N: 5}},
		{"default full-width", "ＤＥＦＡＵＬＴ　１", CmdDefault{N: 1}},
		// OK and codes
		{"ok", "OK 482915", CmdOK{PIN: "482915"}},
		{"ok lower", "ok 4829", CmdOK{PIN: "4829"}},
		{"ok glued", "OK482915", CmdOK{PIN: "482915"}},
		{"ok colon", "OK: 482915", CmdOK{PIN: "482915"}},
		{"ok chinese", "确认 482915", CmdOK{PIN: "482915"}},
		{"ok chinese glued", "确认482915", CmdOK{PIN: "482915"}},
		{"ok full-width", "ＯＫ　４８２９１５", CmdOK{PIN: "482915"}},
		{"code", "731904", CmdCode{Code: "731904"}},
		{"code padded", "  731904 ", CmdCode{Code: "731904"}},
		{"code grouped", "731 904", CmdCode{Code: "731904"}},
		{"code full-width", "７３１９０４", CmdCode{Code: "731904"}},
		{"code keyword", "CODE 731904", CmdCode{Code: "731904"}},
		{"code keyword chinese", "验证码 731 904", CmdCode{Code: "731904"}},
		// CANCEL LANG STOP RESEND STATUS UNLINK RESETPIN
		{"cancel", "CANCEL", CmdCancel{}},
		{"cancel chinese", "取消", CmdCancel{}},
		{"cancel with words", "cancel it please", CmdCancel{}},
		{"lang en", "LANG EN", CmdLang{Lang: English}},
		{"lang zh", "lang zh", CmdLang{Lang: Chinese}},
		{"lang cn", "LANG CN", CmdLang{Lang: Chinese}},
		{"language english", "language english", CmdLang{Lang: English}},
		{"lang chinese keyword", "语言 中文", CmdLang{Lang: Chinese}},
		{"lang chinese keyword en", "语言 EN", CmdLang{Lang: English}},
		{"lang chinese glued", "语言英文", CmdLang{Lang: English}},
		{"lang full-width", "ＬＡＮＧ　ＺＨ", CmdLang{Lang: Chinese}},
		{"stop", "STOP", CmdStop{}},
		{"stop chinese", "停用", CmdStop{}},
		{"stop with words", "STOP my phone was stolen", CmdStop{}},
		{"resend", "RESEND", CmdResend{}},
		{"resend chinese", "重发", CmdResend{}},
		{"status", "STATUS T7K2QXM4", CmdStatus{Ref: "T7K2QXM4"}},
		{"status lower", "status t7k2qxm4", CmdStatus{Ref: "T7K2QXM4"}},
		{"status chinese", "查询 T7K2QXM4", CmdStatus{Ref: "T7K2QXM4"}},
		{"unlink", "UNLINK 2", CmdUnlink{N: 2}},
		{"unlink chinese", "解绑 1", CmdUnlink{N: 1}},
		{"resetpin", "RESETPIN", CmdResetPIN{}},
		{"reset pin words", "reset pin", CmdResetPIN{}},
		{"resetpin chinese", "重置密码", CmdResetPIN{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if got.Keyword() != tt.want.Keyword() {
				t.Fatalf("Keyword = %s", got.Keyword())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		code  ErrorCode
		topic Keyword
		why   Reason
	}{
		{"empty", "", CodeUnknownCommand, "", ReasonEmpty},
		{"spaces", "  \t\u3000 ", CodeUnknownCommand, "", ReasonEmpty},
		{"unknown word", "hello", CodeUnknownCommand, "", ""},
		{"unknown chinese", "你好", CodeUnknownCommand, "", ""},
		{"keyword inside a word", "PAYMENT 500", CodeUnknownCommand, "", ""},
		{"four digits alone", "4829", CodeUnknownCommand, "", ReasonBareNumber},
		{"five digits alone", "48291", CodeUnknownCommand, "", ReasonBareNumber},
		{"seven digits alone", "4829150", CodeUnknownCommand, "", ReasonBareNumber},
		{"phone alone", "13800138000", CodeUnknownCommand, "", ""},
		{"help unknown topic", "HELP me", CodeUsage, KwHelp, ReasonTopic},
		{"help chinese unknown topic", "帮助 你好", CodeUsage, KwHelp, ReasonTopic},
		{"link nothing", "LINK", CodeUsage, KwLink, ReasonMissing},
		{"link no account", "LINK PGB", CodeUsage, KwLink, ReasonMissing},
		{"link bad bank", "LINK P 6222020012345678", CodeUsage, KwLink, ReasonBank},
		{"link bad account", "LINK PGB 12", CodeUsage, KwLink, ReasonAccount},
		{"link letters account", "LINK PGB abcdefgh", CodeUsage, KwLink, ReasonAccount},
		{"link extra", "LINK PGB 6222020012345678 now", CodeUsage, KwLink, ReasonExtra},
		{"pin nothing", "PIN", CodeUsage, KwPIN, ReasonMissing},
		{"pin one", "PIN 482915", CodeUsage, KwPIN, ReasonMissing},
		{"pin four", "PIN 1 2 3 4", CodeUsage, KwPIN, ReasonExtra},
		{"pin short", "PIN 482 482", CodeUsage, KwPIN, ReasonPINFormat},
		{"pin long", "PIN 4829150 4829150", CodeUsage, KwPIN, ReasonPINFormat},
		{"pin letters", "PIN abcd abcd", CodeUsage, KwPIN, ReasonPINFormat},
		{"pin mismatch", "PIN 482915 482916", CodeUsage, KwPIN, ReasonPINMismatch},
		{"pin change mismatch", "PIN 111111 482915 482916", CodeUsage, KwPIN, ReasonPINMismatch},
		{"pin chinese mismatch", "密码 482915 482916", CodeUsage, KwPIN, ReasonPINMismatch},
		{"send nothing", "SEND", CodeUsage, KwSend, ReasonMissing},
		{"send no amount", "SEND 13800138000", CodeUsage, KwSend, ReasonMissing},
		{"send bad phone", "SEND bob 500", CodeUsage, KwSend, ReasonPhone},
		{"send short phone", "SEND 1234 500", CodeUsage, KwSend, ReasonPhone},
		{"send swapped", "SEND 500 13800138000", CodeUsage, KwSend, ReasonPhone},
		{"send extra", "SEND 13800138000 500 200", CodeUsage, KwSend, ReasonExtra},
		{"send negative", "SEND 13800138000 -500", CodeUsage, KwSend, ReasonAmountZero},
		{"send zero", "SEND 13800138000 0", CodeUsage, KwSend, ReasonAmountZero},
		{"send three decimals", "SEND 13800138000 5.005", CodeUsage, KwSend, ReasonAmountDecimals},
		{"send garbage amount", "SEND 13800138000 lots", CodeUsage, KwSend, ReasonAmount},
		{"send overflow", "SEND 13800138000 99999999999999999999", CodeUsage, KwSend, ReasonAmountTooLarge},
		{"send chinese missing", "转账", CodeUsage, KwSend, ReasonMissing},
		{"send chinese bad amount", "转账 13800138000 五百", CodeUsage, KwSend, ReasonAmount},
		{"send full-width bad", "ＳＥＮＤ　１３８００１３８０００", CodeUsage, KwSend, ReasonMissing},
		{"pay nothing", "PAY", CodeUsage, KwPay, ReasonMissing},
		{"pay bad merchant", "PAY S! 250", CodeUsage, KwPay, ReasonMerchant},
		{"pay bad amount", "PAY SHOP01 0.001", CodeUsage, KwPay, ReasonAmountDecimals},
		{"pay long ref", "PAY SHOP01 250 " + strings.Repeat("x", MaxRefLen+1), CodeUsage, KwPay, ReasonRef},
		{"pay chinese missing amount", "付款 SHOP01", CodeUsage, KwPay, ReasonMissing},
		{"bal extra", "BAL 482915", CodeUsage, KwBal, ReasonExtra},
		{"mini extra", "明细 482915", CodeUsage, KwMini, ReasonExtra},
		{"accounts bad n", "ACCOUNTS x", CodeUsage, KwAccounts, ReasonNumber},
		{"accounts extra", "账户 1 2", CodeUsage, KwAccounts, ReasonExtra},
		{"default nothing", "DEFAULT", CodeUsage, KwDefault, ReasonMissing},
		{"default zero", "DEFAULT 0", CodeUsage, KwDefault, ReasonNumber},
		{"default six", "DEFAULT 6", CodeUsage, KwDefault, ReasonNumber},
		{"default huge", "DEFAULT 99999999999999999999999", CodeUsage, KwDefault, ReasonNumber},
		{"default negative", "DEFAULT -1", CodeUsage, KwDefault, ReasonNumber},
		{"ok nothing", "OK", CodeUsage, KwOK, ReasonMissing},
		{"ok short", "OK 482", CodeUsage, KwOK, ReasonPINFormat},
		{"ok long", "OK 48291500", CodeUsage, KwOK, ReasonPINFormat},
		{"ok letters", "OK abcd", CodeUsage, KwOK, ReasonPINFormat},
		{"ok extra", "OK 482915 482915", CodeUsage, KwOK, ReasonExtra},
		{"ok chinese short", "确认 12", CodeUsage, KwOK, ReasonPINFormat},
		{"code keyword short", "CODE 12345", CodeUsage, KwCode, ReasonCodeFormat},
		{"code keyword letters", "CODE abcdef", CodeUsage, KwCode, ReasonCodeFormat},
		{"lang nothing", "LANG", CodeUsage, KwLang, ReasonMissing},
		{"lang french", "LANG FR", CodeUsage, KwLang, ReasonLang},
		{"lang chinese unknown", "语言 法语", CodeUsage, KwLang, ReasonLang},
		{"lang extra", "LANG EN 4829", CodeUsage, KwLang, ReasonExtra},
		{"resend extra", "RESEND 482915", CodeUsage, KwResend, ReasonExtra},
		{"status nothing", "STATUS", CodeUsage, KwStatus, ReasonMissing},
		{"status bad ref", "STATUS T7!", CodeUsage, KwStatus, ReasonTransferRef},
		{"status short ref", "STATUS T7K2QX", CodeUsage, KwStatus, ReasonTransferRef},
		{"status long ref", "STATUS T7K2QXM4A", CodeUsage, KwStatus, ReasonTransferRef},
		{"status extra", "查询 T7K2QXM4 T7K2QXM5", CodeUsage, KwStatus, ReasonExtra},
		{"unlink nothing", "解绑", CodeUsage, KwUnlink, ReasonMissing},
		{"unlink bad", "UNLINK two", CodeUsage, KwUnlink, ReasonNumber},
		{"resetpin extra", "RESETPIN 482915", CodeUsage, KwResetPIN, ReasonExtra},
		{"resetpin chinese extra", "重置密码 482915 482915", CodeUsage, KwResetPIN, ReasonExtra},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := Parse(tt.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) = %v, %v; want an *Error", tt.in, cmd, err)
			}
			if cmd != nil {
				t.Errorf("Parse(%q) returned a command with its error: %v", tt.in, cmd)
			}
			if e.Code != tt.code || e.Topic != tt.topic || e.Reason != tt.why {
				t.Fatalf("Parse(%q) = %s/%s/%s, want %s/%s/%s", tt.in, e.Code, e.Topic, e.Reason, tt.code, tt.topic, tt.why)
			}
			if ErrorCodeOf(err) != tt.code {
				t.Errorf("ErrorCodeOf = %q", ErrorCodeOf(err))
			}
			msg := err.Error()
			if strings.IndexFunc(msg, unicode.IsDigit) >= 0 {
				t.Errorf("error message has digits: %q", msg)
			}
			if e.Code == CodeUsage && !strings.Contains(msg, synopsis[tt.topic]) {
				t.Errorf("usage error %q does not give the form %q", msg, synopsis[tt.topic])
			}
		})
	}
}

// TestCommandStrings: a Command logs in its canonical form with every
// secret masked.
func TestCommandStrings(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"help", "HELP"},
		{"帮助 转账", "HELP SEND"},
		{"LINK pgb 6222020012345678", "LINK PGB ****5678"},
		{"PIN 482915 482915", "PIN **** ****"},
		{"PIN 111111 482915 482915", "PIN **** **** ****"},
		{"send 13800138000 1,000.5", "SEND 13800138000 1000.50"},
		{"pay shop01 250", "PAY SHOP01 250.00"},
		{"pay shop01 250 inv 42", "PAY SHOP01 250.00 inv 42"},
		{"余额", "BAL"},
		{"明细", "MINI"},
		{"账户", "ACCOUNTS"},
		{"账户 2", "DEFAULT 2"},
		{"OK 482915", "OK ****"},
		{"731904", "CODE ****"},
		{"取消", "CANCEL"},
		{"语言 中文", "LANG ZH"},
		{"停用", "STOP"},
		{"重发", "RESEND"},
		{"status t7k2qxm4", "STATUS T7K2QXM4"},
		{"解绑 3", "UNLINK 3"},
		{"重置密码", "RESETPIN"},
	}
	for _, tt := range tests {
		cmd, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		for _, got := range []string{cmd.String(), fmt.Sprint(cmd), fmt.Sprintf("%v", cmd)} {
			if got != tt.want {
				t.Errorf("Parse(%q) prints %q, want %q", tt.in, got, tt.want)
			}
		}
	}
}

// TestEveryKeywordParses: every Keyword has a spelling in each language
// and a synopsis.
func TestEveryKeywordParses(t *testing.T) {
	en, zh := map[Keyword]bool{}, map[Keyword]bool{}
	for s, kw := range keywordTable {
		if TextLang(s) == Chinese {
			zh[kw] = true
		} else {
			en[kw] = true
		}
	}
	for _, kw := range Keywords() {
		if !en[kw] || !zh[kw] {
			t.Errorf("%s: English spelling %v, Chinese spelling %v", kw, en[kw], zh[kw])
		}
		if synopsis[kw] == "" {
			t.Errorf("%s has no synopsis", kw)
		}
		if strings.IndexFunc(synopsis[kw], unicode.IsDigit) >= 0 {
			t.Errorf("%s synopsis has digits: error messages must not", kw)
		}
	}
	if len(Keywords()) != len(synopsis) {
		t.Errorf("%d keywords, %d synopses", len(Keywords()), len(synopsis))
	}
}

func TestTextLang(t *testing.T) {
	for in, want := range map[string]Lang{
		"HELP": "", "帮助": Chinese, "SEND 13800138000 500": "", "转账 13800138000 500": Chinese,
		"ＨＥＬＰ": "", "hello 你好": Chinese, "": "", "１２３４５６": "",
	} {
		if got := TextLang(in); got != want {
			t.Errorf("TextLang(%q) = %q, want %q", in, got, want)
		}
	}
}
