package flows

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// EngineConfig is what the flows need from the configuration (SPEC §1).
type EngineConfig struct {
	// DefaultLang is the reply language of a phone that has not chosen
	// one (config language). Anything but English or Chinese reads
	// English.
	DefaultLang Lang
	// ShortCode is the address replies come from (config short_code).
	ShortCode string
	// Country is the calling code local numbers are read in (config
	// country, e.g. "86").
	Country string
	// PINLength is how many digits a PIN has (config pin_length, 4..6);
	// 0 means 6. Replies quote it.
	PINLength int
}

// Engine runs the flows. It holds only its configuration: it is safe for
// concurrent use, each call working in the Tx it is given.
type Engine struct {
	cfg  EngineConfig
	vars Vars // placeholders every reply may use
}

// NewEngine returns an Engine for cfg, with the defaults of EngineConfig
// filled in.
func NewEngine(cfg EngineConfig) *Engine {
	if !cfg.DefaultLang.Valid() {
		cfg.DefaultLang = English
	}
	if cfg.PINLength == 0 {
		cfg.PINLength = 6
	}
	return &Engine{cfg: cfg, vars: Vars{"pin_length": strconv.Itoa(cfg.PINLength)}}
}

// HandleSMS is the flow step for one inbound SMS (SPEC §3): it loads the
// phone's record (creating it on first contact), reads the command and
// queues exactly one reply, to in.From, from the short code, on the bind
// the text came on. Every text gets a reply — a malformed or unknown one
// the reply that says what was wrong and the correct form.
//
// The reply language is the phone's choice (LANG) if it made one; else
// Chinese when the text has Chinese in it (a 中文 keyword), without saving
// that as a choice; else the configured default. LANG saves the choice
// and answers in the new language.
//
// At this stage no phone has a bank account (LINK comes with the bank
// connector): money and account commands answer that an account must be
// linked first, LINK that linking is not available yet, STOP that there
// is nothing to stop (nothing is recorded: there are no payments to
// block), CANCEL, RESEND, OK and a code that nothing is pending, STATUS
// that there is no such transfer. SEND and PAY from an untrusted bind are
// refused before anything else (SPEC §5.5).
//
// The error is the Tx's, wrapped; the caller rolls back and the SMSC
// delivers the text again.
func (e *Engine) HandleSMS(ctx context.Context, tx Tx, in InboundSMS) error {
	sub, err := tx.Subscriber(ctx, in.From)
	dirty := false
	switch {
	case errors.Is(err, ErrNotFound):
		sub, dirty = Subscriber{Phone: in.From, Created: in.At}, true
	case err != nil:
		return fmt.Errorf("loading subscriber %s: %w", in.From.Masked(), err)
	}

	lang := e.replyLang(sub, in.Text)
	var key Key
	text := ""
	cmd, err := Parse(in.Text)
	if err != nil {
		text = ErrorText(lang, err, e.vars)
	} else {
		switch c := cmd.(type) {
		case CmdHelp:
			key = KeyHelp
			if c.Topic != "" {
				key = HelpKey(c.Topic)
			}
		case CmdLang:
			if sub.Lang != c.Lang {
				sub.Lang, dirty = c.Lang, true
			}
			lang, key = c.Lang, KeyLangSet
		case CmdStop:
			key = KeyStopNothing
		case CmdCancel:
			key = KeyCancelNothing
		case CmdResend:
			key = KeyResendNothing
		case CmdOK, CmdCode:
			key = KeyAnswerNothing
		case CmdStatus:
			key = KeyStatusNotFound
		case CmdLink:
			key = KeyLinkUnavailable
		case CmdSend:
			switch {
			case !in.Trusted:
				key = KeyMoneyUntrusted
			case !e.validPayee(c.Payee):
				text = ErrorText(lang, usage(KwSend, ReasonPhone), e.vars)
			default:
				key = KeyAccountNone
			}
		default:
			// PAY, BAL, MINI, ACCOUNTS, DEFAULT, UNLINK, PIN, RESETPIN.
			key = KeyAccountNone
			if cmd.Keyword().Money() && !in.Trusted {
				key = KeyMoneyUntrusted
			}
		}
	}
	if text == "" {
		text = Text(lang, key, e.vars)
	}

	if dirty {
		if err := tx.SaveSubscriber(ctx, sub); err != nil {
			return fmt.Errorf("saving subscriber %s: %w", in.From.Masked(), err)
		}
	}
	err = tx.QueueSMS(ctx, OutSMS{To: in.From, From: e.cfg.ShortCode, Text: text, Bind: in.Bind})
	if err != nil {
		return fmt.Errorf("queueing reply to %s: %w", in.From.Masked(), err)
	}
	return nil
}

// replyLang picks the language of a reply to text from sub (see HandleSMS).
func (e *Engine) replyLang(sub Subscriber, text string) Lang {
	if sub.Lang.Valid() {
		return sub.Lang
	}
	if l := TextLang(text); l.Valid() {
		return l
	}
	return e.cfg.DefaultLang
}

// validPayee reports whether a SEND payee is a phone number of the
// configured numbering plan.
func (e *Engine) validPayee(payee string) bool {
	_, err := ParseMSISDN(payee, e.cfg.Country)
	return err == nil
}
