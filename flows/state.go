package flows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// PendingTTL is how long a pending prompt waits for its answer (SPEC §6:
// no answer within 5 minutes expires it).
const PendingTTL = 5 * time.Minute

// Account is a bank account bound to a phone (SPEC §2): shown only
// masked, stored encrypted.
type Account struct {
	ID      int64 // the store's id; 0 until saved
	Bank    string
	Number  AccountNumber
	Holder  string // the holder's name as shown, already masked (MaskName)
	Default bool
	Linked  time.Time
}

// Label is how a reply names the account: "PGB ****0001".
func (a Account) Label() string { return a.Bank + " " + a.Number.Masked() }

// Stage is where a pending prompt stands.
type Stage string

// Stages of a pending prompt.
const (
	StagePIN    Stage = "pin"    // waiting for OK <PIN>
	StageBank   Stage = "bank"   // waiting for the bank's answer (no prompt to answer)
	StageCode   Stage = "code"   // waiting for the one-time code
	StageNewPIN Stage = "newpin" // RESETPIN verified: waiting for PIN <new> <new>
)

// Pending is a phone's one pending prompt (SPEC §3: at most one of any
// kind). Kind says what it is for; the fields it does not use stay zero.
type Pending struct {
	ID    string // the operation's globally unique id (bank request id, code binding)
	Kind  OpKind
	Stage Stage
	// Bank and Account: the account being linked (link), verified
	// (resetpin) or removed (unlink).
	Bank      string
	Account   AccountNumber
	AccountID int64  // unlink: the linked account's id
	Holder    string // link: the masked holder name the bank gave; a transfer: the payee's name
	// A transfer's prompt: what its code is bound to, as the reply
	// named it (the Transfer row is the authority).
	Ref       string
	Amount    Amount
	Fee       Amount
	Payee     string
	Challenge Challenge
	Created   time.Time
	Expires   time.Time
	Bind      string // the bind the operation was started on
	Lang      Lang   // the language of the reply that started it
	// Mode: a merchant's payment request started the transfer (SPEC
	// §5.4); "" when the phone did.
	Mode RequestMode
}

// Expired reports whether p stopped waiting at now.
func (p *Pending) Expired(now time.Time) bool { return now.After(p.Expires) }

// Operation is what p's one-time code is bound to.
func (p *Pending) Operation(phone MSISDN) Operation {
	return Operation{Kind: p.Kind, Phone: phone, Amount: p.Amount, Fee: p.Fee, Payee: p.Payee, Bank: p.Bank, Account: p.Account, Transfer: p.ID}
}

// OpUnlink names an UNLINK waiting for the PIN. No code is bound to it.
const OpUnlink OpKind = "unlink"

// BankKind names a request to the bank (SPEC §8).
type BankKind string

// Bank requests.
const (
	BankVerify    BankKind = "verify"    // POST /v1/accounts/verify
	BankTransfer  BankKind = "transfer"  // POST /v1/transfers
	BankBalance   BankKind = "balance"   // POST /v1/accounts/balance
	BankStatement BankKind = "statement" // POST /v1/accounts/statement
)

// MiniEntries is how many statement lines MINI shows (SPEC §3).
const MiniEntries = 5

// BankRequest is a request to the bank, queued by a flow step in the bank
// outbox and sent after the commit (ARCHITECTURE.md). Its answer comes
// back as a BankResult event with the same ID.
type BankRequest struct {
	ID      string // unique; the idempotency key of a transfer
	Phone   MSISDN // the phone whose flow waits for the answer
	Kind    BankKind
	Bank    string        // the account verified, queried or debited
	Account AccountNumber // its number
	// Expires is when the answer stops mattering: the dispatcher gives up
	// retrying an unreachable bank then and reports Failed. Zero for a
	// transfer: once authorized it is sent until the bank answers.
	Expires time.Time

	// Transfer (ID is the transfer's id, the Idempotency-Key).
	Reference string
	Credit    AccountRef
	Amount    Amount
	Fee       Amount
	Narrative string
	// Statement: how many entries.
	Limit int
}

// BankResult is the bank's answer to a BankRequest (or the dispatcher's
// giving up), handed to Engine.HandleBankResult in a step of its own.
type BankResult struct {
	ID    string
	Phone MSISDN
	Kind  BankKind
	// Verify.
	Exists, PhoneMatches bool
	Holder               string // the holder's name in clear, as the bank gave it
	// Failed: no answer will come — the bank was unreachable until the
	// request expired, or refused it (a final error). For a transfer, a
	// final error rejects it (Reason "bank_error").
	Failed bool

	// Transfer: Status is TransferCompleted or TransferRejected, or
	// TransferUnknown while the outcome is not known (the request stays
	// queued and is asked again).
	Status  TransferState
	BankRef string
	Reason  string // rejected: the bank's short reason code
	// Balance.
	Available Amount
	Currency  string
	// Statement, newest first.
	Entries []StatementEntry
}

// MaskName masks a holder's name for display (SPEC §5.2 "payee's masked
// name"): each word keeps its first letter, the rest become '*'
// ("Zhang San" → "Z**** S**"), a Chinese name keeps its family name
// ("张三丰" → "张**"). At most 24 characters are kept.
func MaskName(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	if name == "" {
		return ""
	}
	if !utf8.ValidString(name) {
		return Mask
	}
	var b strings.Builder
	n := 0
	for _, w := range strings.Split(name, " ") {
		if n > 0 {
			b.WriteByte(' ')
		}
		for i, r := range w {
			if n >= 24 {
				break
			}
			if i == 0 {
				b.WriteRune(r)
			} else {
				b.WriteByte('*')
			}
			n++
		}
	}
	return b.String()
}

// The subscriber's state as the store keeps it (sealed: it may hold an
// account number): a versioned JSON of what is not a column. Secrets
// reveal themselves here on purpose, and only here.

type stateWire struct {
	V       int          `json:"v"`
	Lock    Lock         `json:"lock"`
	Codes   []time.Time  `json:"codes,omitempty"`
	Pending *pendingWire `json:"pending,omitempty"`
	Last    *pendingWire `json:"last,omitempty"`
	Noticed time.Time    `json:"noticed,omitzero"`
}

type pendingWire struct {
	ID        string      `json:"id"`
	Kind      OpKind      `json:"kind"`
	Stage     Stage       `json:"stage"`
	Bank      string      `json:"bank,omitempty"`
	Account   string      `json:"account,omitempty"`
	AccountID int64       `json:"account_id,omitempty"`
	Holder    string      `json:"holder,omitempty"`
	Ref       string      `json:"ref,omitempty"`
	Amount    Amount      `json:"amount,omitempty"`
	Fee       Amount      `json:"fee,omitempty"`
	Payee     string      `json:"payee,omitempty"`
	MAC       []byte      `json:"mac,omitempty"`
	Issued    time.Time   `json:"issued,omitzero"`
	CodeExp   time.Time   `json:"code_expires,omitzero"`
	Used      time.Time   `json:"used,omitzero"`
	Sends     int         `json:"sends,omitempty"`
	Created   time.Time   `json:"created"`
	Expires   time.Time   `json:"expires"`
	Bind      string      `json:"bind,omitempty"`
	Lang      Lang        `json:"lang,omitempty"`
	Mode      RequestMode `json:"mode,omitempty"`
}

func pendingToWire(p *Pending) *pendingWire {
	if p == nil {
		return nil
	}
	return &pendingWire{
		ID: p.ID, Kind: p.Kind, Stage: p.Stage, Bank: p.Bank, Account: p.Account.Reveal(),
		AccountID: p.AccountID, Holder: p.Holder, Ref: p.Ref, Amount: p.Amount, Fee: p.Fee, Payee: p.Payee, MAC: p.Challenge.MAC, Issued: p.Challenge.Issued,
		CodeExp: p.Challenge.Expires, Used: p.Challenge.Used, Sends: p.Challenge.Sends,
		Created: p.Created, Expires: p.Expires, Bind: p.Bind, Lang: p.Lang, Mode: p.Mode,
	}
}

func (w *pendingWire) pending() *Pending {
	if w == nil {
		return nil
	}
	return &Pending{
		ID: w.ID, Kind: w.Kind, Stage: w.Stage, Bank: w.Bank, Account: AccountNumber(w.Account),
		AccountID: w.AccountID, Holder: w.Holder, Ref: w.Ref, Amount: w.Amount, Fee: w.Fee, Payee: w.Payee,
		Challenge: Challenge{MAC: w.MAC, Issued: w.Issued, Expires: w.CodeExp, Used: w.Used, Sends: w.Sends},
		Created:   w.Created, Expires: w.Expires, Bind: w.Bind, Lang: w.Lang, Mode: w.Mode,
	}
}

// MarshalState encodes the part of s the store keeps as one sealed
// value: Lock, Codes, Pending and Last. The result holds secrets (an
// account number, code digests): the store must seal it.
func MarshalState(s Subscriber) ([]byte, error) {
	return json.Marshal(stateWire{V: 1, Lock: s.Lock, Codes: s.Codes.Sent, Pending: pendingToWire(s.Pending), Last: pendingToWire(s.Last), Noticed: s.Noticed})
}

// UnmarshalState decodes what MarshalState wrote into s's Lock, Codes,
// Pending and Last. Empty b is the zero state.
func UnmarshalState(b []byte, s *Subscriber) error {
	if len(b) == 0 {
		s.Lock, s.Codes, s.Pending, s.Last, s.Noticed = Lock{}, CodeBudget{}, nil, nil, time.Time{}
		return nil
	}
	var w stateWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("flows: subscriber state: %w", err)
	}
	if w.V != 1 {
		return fmt.Errorf("flows: subscriber state version %d is not 1", w.V)
	}
	s.Lock, s.Codes, s.Pending, s.Last, s.Noticed = w.Lock, CodeBudget{Sent: w.Codes}, w.Pending.pending(), w.Last.pending(), w.Noticed
	return nil
}

type bankWire struct {
	V             int       `json:"v"`
	ID            string    `json:"id"`
	Phone         string    `json:"phone"`
	Kind          BankKind  `json:"kind"`
	Bank          string    `json:"bank,omitempty"`
	Account       string    `json:"account,omitempty"`
	Expires       time.Time `json:"expires,omitzero"`
	Reference     string    `json:"reference,omitempty"`
	CreditBank    string    `json:"credit_bank,omitempty"`
	CreditAccount string    `json:"credit_account,omitempty"`
	Amount        Amount    `json:"amount,omitempty"`
	Fee           Amount    `json:"fee,omitempty"`
	Narrative     string    `json:"narrative,omitempty"`
	Limit         int       `json:"limit,omitempty"`
}

// MarshalBankRequest encodes r for the bank outbox. The result holds the
// account number: the store must seal it.
func MarshalBankRequest(r BankRequest) ([]byte, error) {
	return json.Marshal(bankWire{V: 1, ID: r.ID, Phone: string(r.Phone), Kind: r.Kind, Bank: r.Bank, Account: r.Account.Reveal(), Expires: r.Expires,
		Reference: r.Reference, CreditBank: r.Credit.Bank, CreditAccount: r.Credit.Number.Reveal(), Amount: r.Amount, Fee: r.Fee,
		Narrative: r.Narrative, Limit: r.Limit})
}

// UnmarshalBankRequest decodes what MarshalBankRequest wrote.
func UnmarshalBankRequest(b []byte) (BankRequest, error) {
	var w bankWire
	if err := json.Unmarshal(b, &w); err != nil {
		return BankRequest{}, fmt.Errorf("flows: bank request: %w", err)
	}
	if w.V != 1 {
		return BankRequest{}, fmt.Errorf("flows: bank request version %d is not 1", w.V)
	}
	return BankRequest{ID: w.ID, Phone: MSISDN(w.Phone), Kind: w.Kind, Bank: w.Bank, Account: AccountNumber(w.Account), Expires: w.Expires,
		Reference: w.Reference, Credit: AccountRef{Bank: w.CreditBank, Number: AccountNumber(w.CreditAccount)}, Amount: w.Amount, Fee: w.Fee,
		Narrative: w.Narrative, Limit: w.Limit}, nil
}
