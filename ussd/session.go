package ussd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paygate/paygate/flows"
)

// Kind is what a Request is.
type Kind uint8

const (
	// Begin: the user dialled the service code (SMPP ussd_service_op 1,
	// an aggregator's first callback).
	Begin Kind = iota + 1
	// Answer: the user's input to the last screen (op 18).
	Answer
	// Abort: the user or the network ended the session; no screen.
	Abort
)

// Request is one transport-neutral dialogue event.
type Request struct {
	Kind  Kind
	Phone flows.MSISDN
	// Session is the transport's session id as it names it: the SMPP
	// session TLV's bytes in hex, an aggregator's sessionId.
	Session string
	// Bind is the SMSC bind the session came on: the SMS its commands
	// send (a one-time code) leave on it; "" lets the gateway route them.
	Bind string
	// Joined: Text is every input of the session so far joined by "*"
	// (an aggregator's HTTP callback), not the last input alone; on a
	// session's first event, a shortcut's inputs. A joined transport's
	// ended sessions are kept a while (Config.EndedTTL).
	Joined bool
	// Trusted: money commands are allowed from this transport (SPEC §5.5).
	Trusted bool
	// Text is the user's input; on Begin, what was dialled.
	Text string
	At   time.Time
	// Limit is the screen limit of the transport; zero: DefaultLimit.
	Limit Limit
}

// Limit is how long a screen may be, in characters of each alphabet as
// encoded: GSM 7-bit septets (an extension character counts 2), and
// UCS-2 code units when a screen is not GSM-7.
type Limit struct {
	GSM7, UCS2 int
}

// DefaultLimit is SPEC §4's: 182 GSM-7 characters, 80 UCS-2.
var DefaultLimit = Limit{GSM7: 182, UCS2: 80}

// Screen is what the user sees next: a prompt that waits for an answer,
// or an end screen.
type Screen struct {
	Text string
	End  bool
}

// State is where a session is in the menus.
type State string

// The menu states. Each has a screen and a handler for its input.
const (
	stMain        State = "main"
	stWelcome     State = "welcome"
	stSetPIN      State = "setpin"
	stSetPIN2     State = "setpin2"
	stLinkBank    State = "link.bank"
	stLinkAccount State = "link.account"
	stLinkPIN     State = "link.pin"
	stLinkCode    State = "link.code"
	stSendPayee   State = "send.payee"
	stSendAmount  State = "send.amount"
	stPayMerchant State = "pay.merchant"
	stPayAmount   State = "pay.amount"
	stConfirm     State = "confirm" // a money prompt: its PIN
	stCode        State = "code"    // a one-time code, any operation
	stBalPIN      State = "bal.pin" // BAL or MINI: the PIN
	stAccounts    State = "accounts"
	stAccount     State = "account"
	stUnlinkPIN   State = "unlink.pin"
	stOldPIN      State = "pin.old"
	stNewPIN      State = "pin.new"
	stNewPIN2     State = "pin.new2"
	stLang        State = "lang"
	stPushPIN     State = "push.pin"
	stEndPages    State = "end.pages" // a long end screen, paged
	stEnded       State = "ended"     // an aggregator's session that is over (Config.EndedTTL)
)

// secret reports whether the state's screen asks for a PIN or a
// one-time code.
func (st State) secret() bool {
	switch st {
	case stSetPIN, stSetPIN2, stLinkPIN, stLinkCode, stConfirm, stCode, stBalPIN, stUnlinkPIN,
		stOldPIN, stNewPIN, stNewPIN2, stPushPIN:
		return true
	}
	return false
}

// Session is one dialogue, saved in the step's transaction: a restart,
// or another instance on the same PostgreSQL, goes on where it was. It
// holds what the menus collected; the PINs typed into a change-PIN
// dialogue wait here between screens, so the store keeps the session
// sealed, and the secret types print masked.
type Session struct {
	Phone   flows.MSISDN
	ID      string
	Bind    string
	Trusted bool
	Lang    flows.Lang
	State   State
	Page    int // the page of the screen shown (98 More, 0 Back)
	// Vars are the values the state's screen shows (a flows answer's,
	// the selected account's).
	Vars flows.Vars
	// Collected answers.
	Payee    string
	Merchant string
	Bank     string
	Account  flows.AccountNumber
	Op       string // the money operation a confirm or code screen is for: send, pay, bal, mini, link, unlink, push
	AccountN int    // the account chosen in My accounts, 1-based
	OldPIN   flows.PIN
	NewPIN   flows.PIN
	Note     string // shown above the next screen once (an error, a result)
	EndText  string // a long end screen being paged
	Started  time.Time
	ScreenAt time.Time // when the last screen went out
	Expires  time.Time // the session's hard end (Started + SessionTTL)
	Inputs   int       // answers taken so far (an aggregator's text lists them all)
}

// wire is Session as stored: secrets in the clear, for the store to seal.
type wire struct {
	Phone    flows.MSISDN `json:"phone"`
	ID       string       `json:"id"`
	Bind     string       `json:"bind"`
	Trusted  bool         `json:"trusted,omitempty"`
	Lang     flows.Lang   `json:"lang"`
	State    State        `json:"state"`
	Page     int          `json:"page,omitempty"`
	Vars     flows.Vars   `json:"vars,omitempty"`
	Payee    string       `json:"payee,omitempty"`
	Merchant string       `json:"merchant,omitempty"`
	Bank     string       `json:"bank,omitempty"`
	Account  string       `json:"account,omitempty"`
	Op       string       `json:"op,omitempty"`
	AccountN int          `json:"account_n,omitempty"`
	OldPIN   string       `json:"old_pin,omitempty"`
	NewPIN   string       `json:"new_pin,omitempty"`
	Note     string       `json:"note,omitempty"`
	EndText  string       `json:"end_text,omitempty"`
	Started  time.Time    `json:"started"`
	ScreenAt time.Time    `json:"screen_at"`
	Expires  time.Time    `json:"expires"`
	Inputs   int          `json:"inputs,omitempty"`
}

// Encode is the session as the store keeps it (sealed: it may hold PINs
// and an account number).
func (s Session) Encode() ([]byte, error) {
	return json.Marshal(wire{
		Phone: s.Phone, ID: s.ID, Bind: s.Bind, Trusted: s.Trusted, Lang: s.Lang, State: s.State, Page: s.Page,
		Vars: s.Vars, Payee: s.Payee, Merchant: s.Merchant, Bank: s.Bank, Account: s.Account.Reveal(), Op: s.Op,
		AccountN: s.AccountN, OldPIN: s.OldPIN.Reveal(), NewPIN: s.NewPIN.Reveal(), Note: s.Note, EndText: s.EndText,
		Started: s.Started, ScreenAt: s.ScreenAt, Expires: s.Expires, Inputs: s.Inputs,
	})
}

// DecodeSession reads what Encode wrote.
func DecodeSession(b []byte) (Session, error) {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return Session{}, err
	}
	return Session{
		Phone: w.Phone, ID: w.ID, Bind: w.Bind, Trusted: w.Trusted, Lang: w.Lang, State: w.State, Page: w.Page,
		Vars: w.Vars, Payee: w.Payee, Merchant: w.Merchant, Bank: w.Bank, Account: flows.AccountNumber(w.Account), Op: w.Op,
		AccountN: w.AccountN, OldPIN: flows.PIN(w.OldPIN), NewPIN: flows.PIN(w.NewPIN), Note: w.Note, EndText: w.EndText,
		Started: w.Started, ScreenAt: w.ScreenAt, Expires: w.Expires, Inputs: w.Inputs,
	}, nil
}

// Tx is the step's transaction: flows' ports and the sessions, which it
// keeps as bytes (Session.Encode), sealed.
type Tx interface {
	flows.Tx
	// USSDSession returns the session (phone, id) as saved, or an error
	// wrapping flows.ErrNotFound.
	USSDSession(ctx context.Context, phone flows.MSISDN, id string) ([]byte, error)
	// SaveUSSDSession inserts or replaces the session (phone, id); it
	// lives until expires.
	SaveUSSDSession(ctx context.Context, phone flows.MSISDN, id string, state []byte, expires time.Time) error
	// EndUSSDSession deletes the session (phone, id), if any.
	EndUSSDSession(ctx context.Context, phone flows.MSISDN, id string) error
}

// load reads the session (phone, id) from tx.
func load(ctx context.Context, tx Tx, phone flows.MSISDN, id string) (Session, error) {
	b, err := tx.USSDSession(ctx, phone, id)
	if err != nil {
		return Session{}, err
	}
	s, err := DecodeSession(b)
	if err != nil {
		return Session{}, fmt.Errorf("ussd: reading session: %w", err)
	}
	return s, nil
}

// save writes s to tx, kept in the store until keep.
func save(ctx context.Context, tx Tx, s Session, keep time.Time) error {
	b, err := s.Encode()
	if err != nil {
		return fmt.Errorf("ussd: saving session: %w", err)
	}
	return tx.SaveUSSDSession(ctx, s.Phone, s.ID, b, keep)
}
