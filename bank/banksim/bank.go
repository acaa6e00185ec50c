package banksim

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/flows"
)

// Defaults of Config.
const (
	DefaultCode       = "PGB"
	DefaultCurrency   = "CNY"
	DefaultFeeAccount = "90000001"
)

// maxAmount bounds an amount or a fee so that no balance can overflow:
// ten trillion in major units.
const maxAmount = 1_000_000_000_000_000

// Reasons of a rejected transfer (TransferResult.Reason).
const (
	ReasonInsufficientFunds = "insufficient_funds"
	ReasonUnknownAccount    = "unknown_account"
	ReasonAccountClosed     = "account_closed"
	ReasonSameAccount       = "same_account"
)

// Account is an account at the simulated bank.
type Account struct {
	Bank    string              // bank code
	Number  flows.AccountNumber // prints masked
	Holder  string              // the holder's name
	Phone   flows.MSISDN        // the phone on file (E.164); may be empty
	Balance int64               // minor units; an opening balance for New and Open
	Closed  bool                // a closed account exists but takes no transfers
}

// Config configures a Bank. Zero values mean the documented default.
type Config struct {
	// Secret is the HMAC key shared with the gateway. Required.
	Secret bank.Secret
	// Code is this bank's code (default DefaultCode): the fee account is
	// one of its accounts.
	Code string
	// Currency of every account (default DefaultCurrency).
	Currency string
	// FeeAccount is where fees are credited (default DefaultFeeAccount),
	// opened with a zero balance when Accounts lacks it.
	FeeAccount flows.AccountNumber
	// Accounts are opened at start.
	Accounts []Account
	// Clock gives the time of signatures and ledger entries. Default
	// time.Now.
	Clock  func() time.Time
	Logger *slog.Logger
}

// key identifies an account.
type key struct{ bank, number string }

func keyOf(bankCode string, n flows.AccountNumber) key { return key{bankCode, n.Reveal()} }

type account struct {
	Account
	opening int64 // what it was opened with
}

// record is a transfer the bank received, with its first answer.
type record struct {
	req transferRequest
	res bank.TransferResult
	at  time.Time
}

// Posting is one line of the double-entry ledger: every completed
// transfer writes a debit of amount+fee to the payer, a credit of amount
// to the payee and, when there is a fee, a credit of it to the fee
// account. The postings of a transfer sum to zero.
type Posting struct {
	Seq         int64
	Time        time.Time
	TransferID  string
	Account     bank.Account
	Amount      int64               // negative for a debit
	Counterpart flows.AccountNumber // the other side (the payer, for a payee or fee credit)
	Reference   string              // the transfer's short reference
}

// Bank is a simulated bank: accounts with balances, holder names and
// phones on file, a fee account, a double-entry ledger, and transfers
// applied at most once per id. Handler serves it as SPEC.md §8's Bank
// API with fault injection. Its methods are safe for concurrent use.
type Bank struct {
	cfg    Config
	fee    key
	log    *slog.Logger
	faults Faults
	stop   chan struct{} // closed by Close: ends every fault wait
	once   sync.Once

	mu        sync.Mutex
	accounts  map[key]*account
	order     []key // in opening order
	opening   int64 // sum of opening balances: what the balances must sum to
	transfers map[string]*record
	postings  []Posting
	byID      map[string][]int // posting indexes of each transfer
	applied   map[string]int   // how often each transfer was applied: at most 1
	refSeq    int64
	stats     Stats
}

// Stats count what the bank has seen.
type Stats struct {
	Requests    int `json:"requests"`     // signed requests accepted
	BadRequests int `json:"bad_requests"` // refused for their signature (401)
	Transfers   int `json:"transfers"`    // transfer ids received
	Completed   int `json:"completed"`
	Rejected    int `json:"rejected"`
	Replays     int `json:"replays"`   // a known id answered with its first result
	Conflicts   int `json:"conflicts"` // a known id with another body (409)
}

// New returns a bank with cfg's accounts open. It refuses an empty
// secret and invalid or duplicate accounts.
func New(cfg Config) (*Bank, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("banksim: empty secret")
	}
	if cfg.Code == "" {
		cfg.Code = DefaultCode
	}
	if cfg.Currency == "" {
		cfg.Currency = DefaultCurrency
	}
	if cfg.FeeAccount == "" {
		cfg.FeeAccount = DefaultFeeAccount
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Secret = slices.Clone(cfg.Secret)
	b := &Bank{
		cfg:       cfg,
		fee:       keyOf(cfg.Code, cfg.FeeAccount),
		log:       cfg.Logger,
		stop:      make(chan struct{}),
		accounts:  map[key]*account{},
		transfers: map[string]*record{},
		byID:      map[string][]int{},
		applied:   map[string]int{},
	}
	b.faults.init()
	for i, a := range cfg.Accounts {
		if err := b.Open(a); err != nil {
			return nil, fmt.Errorf("banksim: account %d: %w", i, err)
		}
	}
	if _, ok := b.accounts[b.fee]; !ok {
		if err := b.Open(Account{Bank: cfg.Code, Number: cfg.FeeAccount, Holder: "paygate fees"}); err != nil {
			return nil, fmt.Errorf("banksim: fee account: %w", err)
		}
	}
	return b, nil
}

// Close ends every wait of an injected fault (latency, stall) at once,
// so that a server can shut down without waiting them out; later faults
// do not wait either. The bank goes on answering.
func (b *Bank) Close() error {
	b.once.Do(func() { close(b.stop) })
	return nil
}

// Code returns the bank's code; Currency its currency.
func (b *Bank) Code() string     { return b.cfg.Code }
func (b *Bank) Currency() string { return b.cfg.Currency }

// FeeAccount returns the account fees are credited to.
func (b *Bank) FeeAccount() bank.Account {
	return bank.Account{Bank: b.fee.bank, Number: flows.AccountNumber(b.fee.number)}
}

// Faults returns the bank's fault switches.
func (b *Bank) Faults() *Faults { return &b.faults }

// Open opens an account with its opening balance, which joins the money
// the bank must conserve. It refuses a missing bank code or number, a
// negative balance, a phone not in E.164 and a number already open.
func (b *Bank) Open(a Account) error {
	switch {
	case a.Bank == "" || a.Number == "":
		return errors.New("bank and number are required")
	case strings.ContainsAny(a.Bank+a.Number.Reveal(), " \t\r\n/"):
		return errors.New("bank and number may not hold spaces or '/'")
	case a.Balance < 0 || a.Balance > maxAmount:
		return fmt.Errorf("balance must be 0 to %d", int64(maxAmount))
	case a.Phone != "" && !isE164(string(a.Phone)):
		return fmt.Errorf("phone %s is not in E.164 (+ and 8 to 15 digits)", a.Phone.Masked())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := keyOf(a.Bank, a.Number)
	if _, ok := b.accounts[k]; ok {
		return fmt.Errorf("account %s:%s is already open", a.Bank, a.Number.Masked())
	}
	b.accounts[k] = &account{Account: a, opening: a.Balance}
	b.order = append(b.order, k)
	b.opening += a.Balance
	return nil
}

func isE164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// SetClosed closes or reopens an account; it reports whether the
// account exists.
func (b *Bank) SetClosed(bankCode string, n flows.AccountNumber, closed bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.accounts[keyOf(bankCode, n)]
	if ok {
		a.Closed = closed
	}
	return ok
}

// Account returns an account as it is now.
func (b *Bank) Account(bankCode string, n flows.AccountNumber) (Account, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.accounts[keyOf(bankCode, n)]
	if !ok {
		return Account{}, false
	}
	return a.Account, true
}

// Accounts returns every account as it is now, in opening order.
func (b *Bank) Accounts() []Account {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Account, 0, len(b.order))
	for _, k := range b.order {
		out = append(out, b.accounts[k].Account)
	}
	return out
}

// Transfer returns the bank's result for transfer id, if it received it.
func (b *Bank) Transfer(id string) (bank.TransferResult, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.transfers[id]
	if !ok {
		return bank.TransferResult{}, false
	}
	return r.res, true
}

// Postings returns the ledger postings of transfer id: none for a
// rejected or unknown id, two or three for a completed one.
func (b *Bank) Postings(id string) []Posting {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Posting
	for _, i := range b.byID[id] {
		out = append(out, b.postings[i])
	}
	return out
}

// Ledger returns every posting, oldest first.
func (b *Bank) Ledger() []Posting {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.postings)
}

// Stats returns the bank's counters.
func (b *Bank) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

func (b *Bank) count(f func(*Stats)) {
	b.mu.Lock()
	f(&b.stats)
	b.mu.Unlock()
}

// transferRequest is a POST /v1/transfers body, comparable so that a
// replay can be told from a conflict.
type transferRequest struct {
	ID        string `json:"id"`
	Reference string `json:"reference"`
	Debit     party  `json:"debit"`
	Credit    party  `json:"credit"`
	Amount    int64  `json:"amount"`
	Fee       int64  `json:"fee"`
	Currency  string `json:"currency"`
	Narrative string `json:"narrative"`
}

type party struct {
	Bank    string `json:"bank"`
	Account string `json:"account"`
}

// apiError is a 4xx answer: {"error":{"code","message"}}.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

// transfer applies req once: the first time an id comes, the bank
// decides and records the result (and, when it completes, posts it);
// every later time it answers that same result, or 409 when the body
// differs. A request it cannot judge (400, 422) is not recorded.
func (b *Bank) transfer(req transferRequest) (bank.TransferResult, *apiError) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.transfers[req.ID]; ok {
		if r.req != req {
			b.stats.Conflicts++
			return bank.TransferResult{}, &apiError{409, "idempotency_conflict", "transfer " + req.ID + " was received with another body"}
		}
		b.stats.Replays++
		return r.res, nil
	}
	switch {
	case req.Debit.Bank == "" || req.Debit.Account == "" || req.Credit.Bank == "" || req.Credit.Account == "":
		return bank.TransferResult{}, &apiError{400, "invalid_request", "debit and credit need a bank and an account"}
	case req.Amount <= 0 || req.Amount > maxAmount || req.Fee < 0 || req.Fee > maxAmount:
		return bank.TransferResult{}, &apiError{422, "invalid_amount", "the amount must be positive and the fee 0 or more"}
	case req.Currency != b.cfg.Currency:
		return bank.TransferResult{}, &apiError{422, "invalid_currency", "this bank holds " + b.cfg.Currency}
	}
	res := bank.TransferResult{ID: req.ID, Status: bank.StatusRejected}
	debit, credit := b.accounts[key{req.Debit.Bank, req.Debit.Account}], b.accounts[key{req.Credit.Bank, req.Credit.Account}]
	fee := b.accounts[b.fee]
	switch {
	case debit == nil || credit == nil:
		res.Reason = ReasonUnknownAccount
	case debit.Closed || credit.Closed || (req.Fee > 0 && fee.Closed):
		res.Reason = ReasonAccountClosed
	case debit == credit:
		res.Reason = ReasonSameAccount
	case debit.Balance < req.Amount+req.Fee:
		res.Reason = ReasonInsufficientFunds
	default:
		res.Status = bank.StatusCompleted
		b.refSeq++
		res.BankReference = fmt.Sprintf("%s%010d", b.cfg.Code, b.refSeq)
		b.apply(req, debit, credit, fee)
	}
	b.transfers[req.ID] = &record{req: req, res: res, at: b.cfg.Clock()}
	b.stats.Transfers++
	if res.Status == bank.StatusCompleted {
		b.stats.Completed++
	} else {
		b.stats.Rejected++
	}
	return res, nil
}

// apply moves the money of req and writes its postings; b.mu is held.
func (b *Bank) apply(req transferRequest, debit, credit, fee *account) {
	b.applied[req.ID]++
	now := b.cfg.Clock()
	post := func(a *account, amount int64, counterpart flows.AccountNumber) {
		a.Balance += amount
		b.byID[req.ID] = append(b.byID[req.ID], len(b.postings))
		b.postings = append(b.postings, Posting{
			Seq: int64(len(b.postings)) + 1, Time: now, TransferID: req.ID,
			Account: bank.Account{Bank: a.Bank, Number: a.Number}, Amount: amount,
			Counterpart: counterpart, Reference: req.Reference,
		})
	}
	post(debit, -(req.Amount + req.Fee), credit.Number)
	post(credit, req.Amount, debit.Number)
	if req.Fee > 0 {
		post(fee, req.Fee, debit.Number)
	}
}

// Audit checks the ledger: money is conserved (the balances sum to the
// opening balances), no balance is negative, every account's balance is
// its opening balance plus its postings, every transfer's postings sum
// to zero with exactly one debit, no transfer was applied twice, and
// only completed transfers have postings. It returns every problem
// found, joined, or nil.
func (b *Bank) Audit() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("banksim audit: "+format, args...)) }

	var sum int64
	replay := map[key]int64{}
	for _, k := range b.order {
		a := b.accounts[k]
		sum += a.Balance
		replay[k] = a.opening
		if a.Balance < 0 {
			bad("account %s:%s has a negative balance %d", a.Bank, a.Number.Masked(), a.Balance)
		}
	}
	if sum != b.opening {
		bad("money not conserved: balances sum to %d, opened with %d", sum, b.opening)
	}
	for _, p := range b.postings {
		replay[keyOf(p.Account.Bank, p.Account.Number)] += p.Amount
	}
	for _, k := range b.order {
		if a := b.accounts[k]; replay[k] != a.Balance {
			bad("account %s:%s holds %d but its postings make %d", a.Bank, a.Number.Masked(), a.Balance, replay[k])
		}
	}
	for id, n := range b.applied {
		if n > 1 {
			bad("transfer %s applied %d times", id, n)
		}
	}
	for id, idx := range b.byID {
		var total int64
		debits := 0
		for _, i := range idx {
			total += b.postings[i].Amount
			if b.postings[i].Amount < 0 {
				debits++
			}
		}
		if total != 0 {
			bad("transfer %s: postings sum to %d", id, total)
		}
		if debits != 1 {
			bad("transfer %s: %d debits", id, debits)
		}
		if r := b.transfers[id]; r == nil || r.res.Status != bank.StatusCompleted {
			bad("transfer %s has postings but is not completed", id)
		}
	}
	for id, r := range b.transfers {
		if r.res.Status == bank.StatusCompleted && len(b.byID[id]) == 0 {
			bad("transfer %s completed without postings", id)
		}
	}
	return errors.Join(errs...)
}

// verify answers POST /v1/accounts/verify. A closed account does not
// exist for linking; the holder's name is told only to the phone on file.
func (b *Bank) verify(bankCode string, n flows.AccountNumber, phone flows.MSISDN) (exists, matches bool, holder string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.accounts[keyOf(bankCode, n)]
	if !ok || a.Closed {
		return false, false, ""
	}
	if a.Phone == "" || a.Phone != phone {
		return true, false, ""
	}
	return true, true, a.Holder
}

// statement returns the latest limit postings of an account, newest
// first.
func (b *Bank) statement(k key, limit int) ([]Posting, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.accounts[k]; !ok {
		return nil, false
	}
	out := []Posting{}
	for i := len(b.postings) - 1; i >= 0 && len(out) < limit; i-- {
		p := b.postings[i]
		if keyOf(p.Account.Bank, p.Account.Number) == k {
			out = append(out, p)
		}
	}
	return out, true
}

// DemoAccounts are the accounts `paygate sim bank` opens when given none,
// at bank code: two customers whose phones the sandbox's examples use
// (+8613800138000, +8613900139000), a third with nothing in it, a
// merchant without a phone, and a closed account.
func DemoAccounts(code string) []Account {
	return []Account{
		{Bank: code, Number: "6222020000000001", Holder: "Li Wei", Phone: "+8613800138000", Balance: 1_000_000},
		{Bank: code, Number: "6222020000000002", Holder: "Wang Fang", Phone: "+8613900139000", Balance: 500_000},
		{Bank: code, Number: "6222020000000003", Holder: "Zhang Min", Phone: "+8613700137000"},
		{Bank: code, Number: "6222020000009001", Holder: "Demo Shop"},
		{Bank: code, Number: "6222020000000009", Holder: "Chen Jie", Phone: "+8613600136000", Balance: 100_000, Closed: true},
	}
}
