package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/store"
)

// The admin API (SPEC §7) under /v1/admin: operators find, block and
// unlock subscribers, find transfers, manage merchants (their API keys,
// webhook and terminal mode) and see the SMSC binds and the audit log.
//
// Every call carries Authorization: Bearer <token>, a token of
// admin.token_file ("name token" per line, tokens of 16 characters or
// more; the file is read again when it changes, and a file that is
// missing or malformed refuses every call). A missing or unknown token
// is 401 unauthorized. Every call — reads, refusals and calls to routes
// that do not exist included — writes one audit row (store.AuditEntry)
// with the operator's name, the action, its target and the status it
// ended with, before the answer is sent. Audit rows never hold a token,
// an API key, an account number, a webhook secret or a webhook URL's
// query. POST and PUT calls honour Idempotency-Key (idempotency.go), in
// the operator's own scope.

// adminRealm is the WWW-Authenticate challenge of a 401.
const adminRealm = `Bearer realm="paygate admin"`

// adminRoutes mounts the admin API and the OpenAPI document on mux.
func (g *Gateway) adminRoutes(mux *http.ServeMux) {
	a := &admin{g: g, ops: &operators{path: g.cfg.Admin.TokenFile, log: g.log}}
	if a.ops.current() == nil {
		g.log.Warn("admin: no operator tokens: every admin API call is refused", "file", g.cfg.Admin.TokenFile)
	}
	routes := []struct {
		pattern, action string
		h               http.HandlerFunc
	}{
		{"GET /v1/admin/subscribers/{phone}", "subscriber.read", a.getSubscriber},
		{"POST /v1/admin/subscribers/{phone}/block", "subscriber.block", a.blockSubscriber},
		{"POST /v1/admin/subscribers/{phone}/unlock", "subscriber.unlock", a.unlockSubscriber},
		{"GET /v1/admin/transfers", "transfer.search", a.findTransfers},
		{"GET /v1/admin/merchants", "merchant.list", a.listMerchants},
		{"POST /v1/admin/merchants", "merchant.create", a.createMerchant},
		{"GET /v1/admin/merchants/{code}", "merchant.read", a.getMerchant},
		{"POST /v1/admin/merchants/{code}/disable", "merchant.disable", a.setDisabled(true)},
		{"POST /v1/admin/merchants/{code}/enable", "merchant.enable", a.setDisabled(false)},
		{"POST /v1/admin/merchants/{code}/keys", "key.create", a.createKey},
		{"GET /v1/admin/merchants/{code}/keys", "key.list", a.listKeys},
		{"DELETE /v1/admin/merchants/{code}/keys/{id}", "key.revoke", a.revokeKey},
		{"PUT /v1/admin/merchants/{code}/webhook", "webhook.set", a.setWebhook},
		{"POST /v1/admin/merchants/{code}/terminal", "terminal.set", a.setTerminal},
		{"GET /v1/admin/smsc", "smsc.read", a.smsc},
		{"GET /v1/admin/audit", "audit.read", a.auditLog},
		{"POST /v1/admin/devices", "device.issue", a.createDevice},
		{"GET /v1/admin/devices/{id}", "device.read", a.getDevice},
		{"POST /v1/admin/devices/{id}/rotate", "device.rotate", a.rotateDevice},
		{"POST /v1/admin/devices/{id}/revoke", "device.revoke", a.revokeDevice},
		{"GET /v1/admin/measurements", "measurement.list", a.listMeasurements},
		{"POST /v1/admin/measurements", "measurement.allow", a.allowMeasurement},
		{"DELETE /v1/admin/measurements/{measurement}", "measurement.remove", a.disallowMeasurement},
	}
	for _, rt := range routes {
		h := rt.h
		if m, _, _ := strings.Cut(rt.pattern, " "); m == http.MethodPost || m == http.MethodPut {
			h = g.idempotent(operatorScope, h)
		}
		g.apiRoute(mux, rt.pattern, a.guard(rt.action, h))
	}
	// Anything else under /v1/admin/: a JSON 404 or 405, audited like
	// the rest. It is not an API route (not in the OpenAPI document).
	mux.HandleFunc("/v1/admin/", a.guard("unknown", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "this path takes "+strings.Join(allow, ", "))
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no such admin API route (see GET /v1/openapi.json)")
	}))
	g.openAPIRoute(mux)
}

// allowedMethods returns the methods mux serves at r's path with a
// pattern other than the catch-all.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/v1/admin/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// admin serves the admin API of g.
type admin struct {
	g   *Gateway
	ops *operators
}

// operators are the admin API's callers: the tokens of admin.token_file,
// read again whenever the file changes. Safe for concurrent use.
type operators struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	read   bool
	stamp  fileStamp
	tokens ussdCallers // the same file format as ussd_http.token_file
}

// fileStamp tells whether a file changed.
type fileStamp struct {
	exists bool
	mod    time.Time
	size   int64
}

// current returns the tokens, reading the file again when it changed
// since the last read. A missing or malformed file has no tokens.
func (o *operators) current() ussdCallers {
	var st fileStamp
	if fi, err := os.Stat(o.path); err == nil {
		st = fileStamp{exists: true, mod: fi.ModTime(), size: fi.Size()}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.read && st == o.stamp {
		return o.tokens
	}
	tokens, err := readUSSDCallers(o.path)
	if err != nil {
		o.log.Error("admin: admin.token_file refused: every admin API call is refused until it is fixed", "file", o.path, "err", err)
		tokens = nil
	}
	o.read, o.stamp, o.tokens = true, st, tokens
	return tokens
}

// operator returns the name of the operator whose token r carries, or
// why there is none (for the audit log).
func (o *operators) operator(r *http.Request) (name, why string) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return "", "no bearer token"
	}
	name, ok := o.current().caller(r)
	if !ok {
		return "", "unknown token"
	}
	return name, ""
}

// adminCall is what the audit row of one call says, filled in by the
// guard (operator) and the handler (target, detail).
type adminCall struct {
	operator string
	target   string
	detail   string
}

type adminCallKey struct{}

// callOf returns the admin call r belongs to (nil outside the admin API).
func callOf(r *http.Request) *adminCall {
	c, _ := r.Context().Value(adminCallKey{}).(*adminCall)
	return c
}

// note sets what the audit row of r's call says of it.
func note(r *http.Request, target, detail string) {
	if c := callOf(r); c != nil {
		if target != "" {
			c.target = target
		}
		c.detail = detail
	}
}

// operatorScope is the Idempotency-Key scope of an admin call: the
// operator's own.
func operatorScope(r *http.Request) string {
	if c := callOf(r); c != nil && c.operator != "" {
		return "operator:" + c.operator
	}
	return ""
}

// guard authenticates a call to action, runs h, writes the audit row and
// then sends h's answer.
func (a *admin) guard(action string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		call := &adminCall{target: pathTarget(r)}
		rec := newBufferedWriter()
		name, why := a.ops.operator(r)
		if name == "" {
			rec.Header().Set("WWW-Authenticate", adminRealm)
			writeError(rec, http.StatusUnauthorized, "unauthorized",
				"this call needs Authorization: Bearer <token> with an operator's token from admin.token_file")
			call.detail = "refused: " + why
		} else {
			call.operator = name
			h(rec, r.WithContext(context.WithValue(r.Context(), adminCallKey{}, call)))
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if rec.Header().Get(replayedHeader) != "" {
			call.detail = strings.TrimSpace("replayed " + call.detail)
		}
		if call.detail == "" && rec.status >= 400 {
			// Refused before the handler said why (Idempotency-Key): the
			// error's code, which is never a secret.
			var e apiError
			if json.Unmarshal(rec.body.Bytes(), &e) == nil && e.Error.Code != "" {
				call.detail = e.Error.Code
			}
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		err := a.g.db.Audit(ctx, store.AuditEntry{
			Operator: call.operator, Action: action, Target: call.target, Status: rec.status, Detail: call.detail,
		})
		if err != nil {
			// The call is done; only its record is missing.
			a.g.log.Error("admin: audit row not written", "operator", call.operator, "action", action, "status", rec.status, "err", err)
		}
		rec.sendTo(w)
	}
}

// pathTarget is the target of a call as its path names it (a phone as
// typed, a merchant code, a key id), before the handler reads it.
func pathTarget(r *http.Request) string {
	if r.Pattern == "/v1/admin/" {
		return r.URL.Path
	}
	var parts []string
	for _, name := range []string{"phone", "code", "id"} {
		if v := r.PathValue(name); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, "/")
}

// unavailable answers 503 for err, logged.
func (a *admin) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	a.g.log.Error("admin: call failed", "pattern", r.Pattern, "err", err)
	note(r, "", "error: "+safeError(err))
	writeError(w, http.StatusServiceUnavailable, "unavailable", "the service is unavailable: try again later")
}

// safeError names the kind of err for the audit log.
func safeError(err error) string {
	if errors.Is(err, store.ErrUnavailable) {
		return "database unavailable"
	}
	return "internal"
}

// notFound answers 404 saying what was not found.
func notFound(w http.ResponseWriter, r *http.Request, what string) {
	note(r, "", "not found")
	writeError(w, http.StatusNotFound, "not_found", what)
}

// badRequest answers 400.
func badRequest(w http.ResponseWriter, r *http.Request, message string) {
	note(r, "", "invalid request")
	writeError(w, http.StatusBadRequest, "invalid_request", message)
}

// fieldProblem is one field refused by a 422 invalid.
type fieldProblem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// invalidError is the body of a 422 invalid: the SPEC's error, with the
// fields at fault.
type invalidError struct {
	Error struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Fields  []fieldProblem `json:"fields"`
	} `json:"error"`
}

// invalid answers 422 invalid naming every field at fault.
func invalid(w http.ResponseWriter, r *http.Request, fields []fieldProblem) {
	var body invalidError
	body.Error.Code = "invalid"
	var msgs, names []string
	for _, f := range fields {
		msgs = append(msgs, f.Field+": "+f.Reason)
		names = append(names, f.Field)
	}
	body.Error.Message = strings.Join(msgs, "; ")
	body.Error.Fields = fields
	note(r, "", "invalid: "+strings.Join(names, ", "))
	writeJSON(w, http.StatusUnprocessableEntity, body)
}

// fieldProblems lists the *FieldError in err (joined or single); false
// when err holds another kind of error.
func fieldProblems(err error) ([]fieldProblem, bool) {
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	var out []fieldProblem
	for _, e := range list {
		var fe *store.FieldError
		if !errors.As(e, &fe) {
			return nil, false
		}
		out = append(out, fieldProblem{Field: fe.Field, Reason: fe.Reason})
	}
	return out, len(out) > 0
}

// --- subscribers

// subscriberView is a subscriber as operators see it: never a PIN hash,
// a code or an account number in full.
type subscriberView struct {
	Phone    string        `json:"phone"`
	Created  time.Time     `json:"created_at"`
	Language string        `json:"language,omitempty"`
	PINSet   bool          `json:"pin_set"`
	Stopped  bool          `json:"stopped"`
	Lock     lockView      `json:"lock"`
	Pending  *pendingView  `json:"pending"`
	Accounts []accountView `json:"accounts"`
	// Device is the phone's security module (SPEC §9), null when none:
	// with its trust, operators see why payments are off.
	Device *subscriberDevice `json:"device"`
}

type subscriberDevice struct {
	ID    string    `json:"device_id"`
	Trust trustView `json:"trust"`
}

type lockView struct {
	Locked   bool       `json:"locked"`   // money and PIN commands are refused now
	Failures int        `json:"failures"` // consecutive failures of PIN and code
	Until    *time.Time `json:"until"`    // the end of the running timed lock; null when none runs
	Operator bool       `json:"operator"` // locked until an operator unlocks it
}

type pendingView struct {
	Kind      string    `json:"kind"`
	Stage     string    `json:"stage"`
	Reference string    `json:"reference,omitempty"`
	Amount    int64     `json:"amount,omitempty"`
	Created   time.Time `json:"created_at"`
	Expires   time.Time `json:"expires_at"`
}

type accountView struct {
	ID      int64     `json:"id"`
	Bank    string    `json:"bank"`
	Account string    `json:"account"` // masked
	Holder  string    `json:"holder,omitempty"`
	Default bool      `json:"default"`
	Linked  time.Time `json:"linked_at"`
}

// phoneArg reads the {phone} of r with the config's country; false means
// it answered 400.
func (a *admin) phoneArg(w http.ResponseWriter, r *http.Request) (flows.MSISDN, bool) {
	phone, err := flows.ParseMSISDN(r.PathValue("phone"), a.g.cfg.Country)
	if err != nil {
		badRequest(w, r, "the path does not name a phone number (local numbers are read with country code "+a.g.cfg.Country+")")
		return "", false
	}
	note(r, string(phone), "")
	return phone, true
}

// subscriber answers with the view of phone, status 200.
func (a *admin) subscriber(w http.ResponseWriter, r *http.Request, phone flows.MSISDN) {
	sub, accounts, err := a.g.db.LookupSubscriber(r.Context(), phone)
	if errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "no subscriber "+string(phone))
		return
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	now := a.g.now()
	v := subscriberView{
		Phone: string(sub.Phone), Created: sub.Created.UTC(), Language: string(sub.Lang), PINSet: sub.PIN != "", Stopped: sub.Stopped,
		Lock:     lockView{Locked: sub.Lock.Locked(now), Failures: sub.Lock.Failures, Operator: sub.Lock.Operator},
		Accounts: []accountView{},
	}
	if sub.Lock.Until.After(now) {
		until := sub.Lock.Until.UTC()
		v.Lock.Until = &until
	}
	if p := sub.Pending; p != nil {
		v.Pending = &pendingView{Kind: string(p.Kind), Stage: string(p.Stage), Reference: p.Ref, Amount: int64(p.Amount),
			Created: p.Created.UTC(), Expires: p.Expires.UTC()}
	}
	if d := sub.Device; d != nil {
		v.Device = &subscriberDevice{ID: d.ID, Trust: newTrustView(d.Trust, d.Why, "", time.Time{})}
	}
	for _, ac := range accounts {
		v.Accounts = append(v.Accounts, accountView{ID: ac.ID, Bank: ac.Bank, Account: ac.Masked, Holder: ac.Holder, Default: ac.Default, Linked: ac.Linked.UTC()})
	}
	writeJSON(w, http.StatusOK, v)
}

// getSubscriber is GET /v1/admin/subscribers/{phone}.
func (a *admin) getSubscriber(w http.ResponseWriter, r *http.Request) {
	if phone, ok := a.phoneArg(w, r); ok {
		a.subscriber(w, r, phone)
	}
}

// blockSubscriber is POST /v1/admin/subscribers/{phone}/block: the phone
// is locked until an operator unlocks it; its pending operation ends.
func (a *admin) blockSubscriber(w http.ResponseWriter, r *http.Request) {
	a.operatorStep(w, r, "blocked", a.g.engine.OperatorBlock)
}

// unlockSubscriber is POST /v1/admin/subscribers/{phone}/unlock: every
// lock and STOP lifted, the failure counter reset.
func (a *admin) unlockSubscriber(w http.ResponseWriter, r *http.Request) {
	a.operatorStep(w, r, "unlocked", a.g.engine.OperatorUnlock)
}

// operatorStep runs an operator's flow step on the phone of r and
// answers with the subscriber as it is after it.
func (a *admin) operatorStep(w http.ResponseWriter, r *http.Request, done string,
	step func(context.Context, flows.Tx, flows.MSISDN, time.Time) error) {
	phone, ok := a.phoneArg(w, r)
	if !ok {
		return
	}
	err := a.g.db.Step(r.Context(), func(tx *store.Tx) error {
		return step(r.Context(), tx, phone, a.g.now())
	})
	if errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "no subscriber "+string(phone))
		return
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	note(r, "", done)
	a.subscriber(w, r, phone)
}

// --- transfers

// transferView is a transfer as operators see it: accounts masked, the
// payer's narrative left out (it is free text, kept sealed).
type transferView struct {
	ID        string         `json:"id"`
	Reference string         `json:"reference"`
	Kind      string         `json:"kind"`
	State     string         `json:"state"`
	Reason    string         `json:"reason,omitempty"`
	Payer     string         `json:"payer"`
	Payee     string         `json:"payee"`
	PayeeName string         `json:"payee_name,omitempty"`
	Debit     accountRefView `json:"debit"`
	Credit    accountRefView `json:"credit"`
	Amount    int64          `json:"amount"`
	Fee       int64          `json:"fee"`
	Currency  string         `json:"currency"`
	Mode      string         `json:"mode,omitempty"`
	BankRef   string         `json:"bank_reference,omitempty"`
	Created   time.Time      `json:"created_at"`
	Updated   time.Time      `json:"updated_at"`
	Expires   time.Time      `json:"expires_at"`
}

type accountRefView struct {
	Bank    string `json:"bank"`
	Account string `json:"account"` // masked
}

func (a *admin) transferView(t flows.Transfer) transferView {
	return transferView{
		ID: t.ID, Reference: t.Ref, Kind: string(t.Kind), State: string(t.State), Reason: t.Reason,
		Payer: string(t.Payer), Payee: t.Payee, PayeeName: t.PayeeName,
		Debit:  accountRefView{Bank: t.Debit.Bank, Account: t.Debit.Number.Masked()},
		Credit: accountRefView{Bank: t.Credit.Bank, Account: t.Credit.Number.Masked()},
		Amount: int64(t.Amount), Fee: int64(t.Fee), Currency: a.g.cfg.Currency, Mode: string(t.Mode), BankRef: t.BankRef,
		Created: t.Created.UTC(), Updated: t.Updated.UTC(), Expires: t.Expires.UTC(),
	}
}

// listLimit reads ?limit= (default def, 1..most); false means it
// answered 400.
func listLimit(w http.ResponseWriter, r *http.Request, def, most int) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		badRequest(w, r, fmt.Sprintf("limit must be a number from 1 to %d", most))
		return 0, false
	}
	return n, true
}

// findTransfers is GET /v1/admin/transfers?reference=&phone=&state=&limit=:
// the transfers every given filter selects, newest first.
func (a *admin) findTransfers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, ok := listLimit(w, r, 50, 500)
	if !ok {
		return
	}
	var f store.TransferFilter
	var target []string
	ref := strings.ToUpper(strings.TrimSpace(q.Get("reference")))
	if ref != "" {
		if len(ref) > 32 || strings.IndexFunc(ref, func(c rune) bool { return !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') }) >= 0 {
			badRequest(w, r, "reference must be letters and digits, such as T7K2QXM4")
			return
		}
		target = append(target, "reference="+ref)
	}
	if s := q.Get("phone"); s != "" {
		phone, err := flows.ParseMSISDN(s, a.g.cfg.Country)
		if err != nil {
			badRequest(w, r, "phone is not a phone number (local numbers are read with country code "+a.g.cfg.Country+")")
			return
		}
		f.Payer = phone
		target = append(target, "phone="+string(phone))
	}
	if s := q.Get("state"); s != "" {
		if !slices.Contains(flows.TransferStates(), flows.TransferState(s)) {
			var names []string
			for _, st := range flows.TransferStates() {
				names = append(names, string(st))
			}
			badRequest(w, r, "state must be one of "+strings.Join(names, ", "))
			return
		}
		f.State = flows.TransferState(s)
		target = append(target, "state="+s)
	}
	note(r, strings.Join(target, " "), "")
	var list []flows.Transfer
	if ref != "" {
		t, err := a.g.db.TransferByReference(r.Context(), ref)
		switch {
		case errors.Is(err, flows.ErrNotFound):
		case err != nil:
			a.unavailable(w, r, err)
			return
		case (f.Payer == "" || t.Payer == f.Payer) && (f.State == "" || t.State == f.State):
			list = append(list, t)
		}
	} else {
		f.Limit = limit
		var err error
		if list, err = a.g.db.Transfers(r.Context(), f); err != nil {
			a.unavailable(w, r, err)
			return
		}
	}
	out := struct {
		Transfers []transferView `json:"transfers"`
	}{Transfers: []transferView{}}
	for _, t := range list {
		out.Transfers = append(out.Transfers, a.transferView(t))
	}
	note(r, "", fmt.Sprintf("%d found", len(out.Transfers)))
	writeJSON(w, http.StatusOK, out)
}

// --- merchants

// merchantView is a merchant as operators see it: the account number
// masked, the webhook without its query (which may carry a token).
type merchantView struct {
	Code                string     `json:"code"`
	Name                string     `json:"name"`
	Bank                string     `json:"bank"`
	Account             string     `json:"account"`
	Phone               string     `json:"phone,omitempty"`
	Webhook             string     `json:"webhook,omitempty"`
	Disabled            bool       `json:"disabled"`
	TerminalSuspended   bool       `json:"terminal_suspended"`
	TerminalSuspendedAt *time.Time `json:"terminal_suspended_at,omitempty"`
	Created             time.Time  `json:"created_at"`
}

func newMerchantView(m flows.Merchant) merchantView {
	v := merchantView{
		Code: m.Code, Name: m.Name, Bank: m.Account.Bank, Account: m.Account.Number.Masked(), Phone: string(m.Phone),
		Webhook: webhookShown(m.Webhook), Disabled: m.Disabled, TerminalSuspended: !m.TerminalSuspended.IsZero(),
		Created: m.Created.UTC(),
	}
	if v.TerminalSuspended {
		at := m.TerminalSuspended.UTC()
		v.TerminalSuspendedAt = &at
	}
	return v
}

// webhookShown is a webhook URL without its query and fragment, "?…"
// marking that it had one: what operators and the audit log may see.
func webhookShown(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "[invalid]"
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		u.RawQuery, u.Fragment, u.ForceQuery = "", "", false
		return u.String() + "?…"
	}
	return u.String()
}

// codeArg is the {code} of r, upper-cased as PAY names merchants.
func codeArg(r *http.Request) string {
	code := strings.ToUpper(strings.TrimSpace(r.PathValue("code")))
	note(r, code, "")
	return code
}

// merchant answers with the view of the merchant with code, at status.
func (a *admin) merchant(w http.ResponseWriter, r *http.Request, code string, status int) {
	m, err := a.g.db.MerchantByCode(r.Context(), code)
	if errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "no merchant "+code)
		return
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	writeJSON(w, status, newMerchantView(m))
}

// listMerchants is GET /v1/admin/merchants: every merchant, by code.
func (a *admin) listMerchants(w http.ResponseWriter, r *http.Request) {
	list, err := a.g.db.Merchants(r.Context())
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	out := struct {
		Merchants []merchantView `json:"merchants"`
	}{Merchants: []merchantView{}}
	for _, m := range list {
		out.Merchants = append(out.Merchants, newMerchantView(m))
	}
	note(r, "", fmt.Sprintf("%d merchants", len(list)))
	writeJSON(w, http.StatusOK, out)
}

// getMerchant is GET /v1/admin/merchants/{code}.
func (a *admin) getMerchant(w http.ResponseWriter, r *http.Request) {
	a.merchant(w, r, codeArg(r), http.StatusOK)
}

// merchantCreated is the answer to a merchant's creation: the merchant,
// and the webhook's signing secret when it was given a webhook (shown
// this once).
type merchantCreated struct {
	merchantView
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// createMerchant is POST /v1/admin/merchants {code, name, bank, account,
// phone, webhook}: ParseMerchant normalizes and checks it (422 invalid
// naming the fields at fault), a webhook must pass checkWebhookURL, and
// a code taken is 409 conflict.
func (a *admin) createMerchant(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code    string `json:"code"`
		Name    string `json:"name"`
		Bank    string `json:"bank"`
		Account string `json:"account"`
		Phone   string `json:"phone"`
		Webhook string `json:"webhook"`
	}
	if !readJSON(w, r, &in) {
		note(r, "", "invalid request")
		return
	}
	note(r, strings.ToUpper(strings.TrimSpace(in.Code)), "")
	m, err := ParseMerchant(a.g.cfg, MerchantInput{Code: in.Code, Name: in.Name, Bank: in.Bank, Account: in.Account, Phone: in.Phone, Webhook: in.Webhook})
	if err != nil {
		fields, ok := fieldProblems(err)
		if !ok {
			a.unavailable(w, r, err)
			return
		}
		invalid(w, r, fields)
		return
	}
	note(r, m.Code, "")
	webhook := m.Webhook
	if webhook != "" {
		if err := a.g.checkWebhookURL(r.Context(), webhook); err != nil {
			invalid(w, r, []fieldProblem{{Field: "webhook", Reason: webhookReason(err)}})
			return
		}
	}
	// The webhook is set apart, with its signing secret.
	m.Webhook = ""
	if err := a.g.db.AddMerchant(r.Context(), m); err != nil {
		if errors.Is(err, flows.ErrDuplicate) {
			note(r, "", "conflict: code taken")
			writeError(w, http.StatusConflict, "conflict", "merchant "+m.Code+" exists already")
			return
		}
		if fields, ok := fieldProblems(err); ok {
			invalid(w, r, fields)
			return
		}
		a.unavailable(w, r, err)
		return
	}
	var secret string
	if webhook != "" {
		if secret, err = a.g.db.SetMerchantWebhook(r.Context(), m.Code, webhook); err != nil {
			a.g.log.Error("admin: merchant added without its webhook", "merchant", m.Code, "err", err)
			note(r, "", "created without webhook: "+safeError(err))
			writeError(w, http.StatusServiceUnavailable, "unavailable",
				"merchant "+m.Code+" was created without its webhook: set it with PUT /v1/admin/merchants/"+m.Code+"/webhook")
			return
		}
	}
	saved, err := a.g.db.MerchantByCode(r.Context(), m.Code)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	detail := "created, account " + saved.Account.Label()
	if webhook != "" {
		detail += ", webhook " + webhookShown(webhook)
	}
	note(r, "", detail)
	writeJSON(w, http.StatusCreated, merchantCreated{merchantView: newMerchantView(saved), WebhookSecret: secret})
}

// webhookReason is why checkWebhookURL refused a URL, as a field's
// reason.
func webhookReason(err error) string {
	var fe *store.FieldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return err.Error()
}

// setDisabled is POST /v1/admin/merchants/{code}/disable (PAY and
// payment requests to it are refused) or /enable.
func (a *admin) setDisabled(disabled bool) http.HandlerFunc {
	done := "enabled"
	if disabled {
		done = "disabled"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		code := codeArg(r)
		err := a.g.db.SetMerchantDisabled(r.Context(), code, disabled)
		if errors.Is(err, flows.ErrNotFound) {
			notFound(w, r, "no merchant "+code)
			return
		}
		if err != nil {
			a.unavailable(w, r, err)
			return
		}
		note(r, "", done)
		a.merchant(w, r, code, http.StatusOK)
	}
}

// keyView is a merchant's API key as operators see it: its public id,
// never the key (but in newKey, once).
type keyView struct {
	ID       string     `json:"id"`
	Merchant string     `json:"merchant"`
	Created  time.Time  `json:"created_at"`
	Revoked  bool       `json:"revoked"`
	RevokeAt *time.Time `json:"revoked_at,omitempty"`
}

func newKeyView(k store.APIKey) keyView {
	v := keyView{ID: k.ID, Merchant: k.Merchant, Created: k.Created.UTC(), Revoked: !k.Revoked.IsZero()}
	if v.Revoked {
		at := k.Revoked.UTC()
		v.RevokeAt = &at
	}
	return v
}

// newKey is the answer to a key's creation: the only time the key is
// seen whole.
type newKey struct {
	keyView
	Key string `json:"key"`
}

// createKey is POST /v1/admin/merchants/{code}/keys: a new API key,
// returned whole this once.
func (a *admin) createKey(w http.ResponseWriter, r *http.Request) {
	code := codeArg(r)
	key, id, err := a.g.db.AddAPIKey(r.Context(), code)
	if errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "no merchant "+code)
		return
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	note(r, "", "key "+id+" created")
	v := keyView{ID: id, Merchant: code, Created: a.g.now().UTC()}
	if k, ok := a.findKey(r.Context(), code, id); ok {
		v = newKeyView(k)
	}
	writeJSON(w, http.StatusCreated, newKey{keyView: v, Key: key})
}

// findKey returns the merchant's key with the public id.
func (a *admin) findKey(ctx context.Context, code, id string) (store.APIKey, bool) {
	keys, err := a.g.db.APIKeys(ctx, code)
	if err != nil {
		return store.APIKey{}, false
	}
	for _, k := range keys {
		if k.ID == id {
			return k, true
		}
	}
	return store.APIKey{}, false
}

// listKeys is GET /v1/admin/merchants/{code}/keys: the merchant's keys,
// revoked ones too, oldest first.
func (a *admin) listKeys(w http.ResponseWriter, r *http.Request) {
	code := codeArg(r)
	if _, err := a.g.db.MerchantByCode(r.Context(), code); errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "no merchant "+code)
		return
	} else if err != nil {
		a.unavailable(w, r, err)
		return
	}
	keys, err := a.g.db.APIKeys(r.Context(), code)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	out := struct {
		Keys []keyView `json:"keys"`
	}{Keys: []keyView{}}
	for _, k := range keys {
		out.Keys = append(out.Keys, newKeyView(k))
	}
	note(r, "", fmt.Sprintf("%d keys", len(keys)))
	writeJSON(w, http.StatusOK, out)
}

// revokeKey is DELETE /v1/admin/merchants/{code}/keys/{id}: the key stops
// working at once; revoking it again changes nothing.
func (a *admin) revokeKey(w http.ResponseWriter, r *http.Request) {
	code, id := codeArg(r), r.PathValue("id")
	note(r, code+"/"+id, "")
	err := a.g.db.RevokeAPIKey(r.Context(), code, id)
	if errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "merchant "+code+" has no key "+id)
		return
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	note(r, "", "revoked")
	k, ok := a.findKey(r.Context(), code, id)
	if !ok {
		a.unavailable(w, r, errors.New("revoked key not found"))
		return
	}
	writeJSON(w, http.StatusOK, newKeyView(k))
}

// webhookSet is the answer to PUT webhook: the URL as shown, and the
// signing secret, shown this once (none when the webhook was removed).
type webhookSet struct {
	Merchant string  `json:"merchant"`
	Webhook  *string `json:"webhook"`
	Secret   string  `json:"secret,omitempty"`
}

// setWebhook is PUT /v1/admin/merchants/{code}/webhook {url}: a URL that
// checkWebhookURL accepts gets a new signing secret; "" removes the
// webhook.
func (a *admin) setWebhook(w http.ResponseWriter, r *http.Request) {
	code := codeArg(r)
	var in struct {
		URL *string `json:"url"`
	}
	if !readJSON(w, r, &in) {
		note(r, "", "invalid request")
		return
	}
	if in.URL == nil {
		invalid(w, r, []fieldProblem{{Field: "url", Reason: `is required ("" removes the webhook)`}})
		return
	}
	raw := strings.TrimSpace(*in.URL)
	if raw != "" {
		if err := a.g.checkWebhookURL(r.Context(), raw); err != nil {
			invalid(w, r, []fieldProblem{{Field: "url", Reason: webhookReason(err)}})
			return
		}
	}
	secret, err := a.g.db.SetMerchantWebhook(r.Context(), code, raw)
	if errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "no merchant "+code)
		return
	}
	if fields, ok := fieldProblems(err); ok && err != nil {
		for i := range fields {
			if fields[i].Field == "webhook" {
				fields[i].Field = "url"
			}
		}
		invalid(w, r, fields)
		return
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	out := webhookSet{Merchant: code, Secret: secret}
	if raw == "" {
		note(r, "", "webhook removed")
	} else {
		shown := webhookShown(raw)
		out.Webhook = &shown
		note(r, "", "webhook "+shown)
	}
	writeJSON(w, http.StatusOK, out)
}

// setTerminal is POST /v1/admin/merchants/{code}/terminal {suspended}:
// terminal mode suspended by the operator, or its suspension lifted
// (which forgets the failures that led to it).
func (a *admin) setTerminal(w http.ResponseWriter, r *http.Request) {
	code := codeArg(r)
	var in struct {
		Suspended *bool `json:"suspended"`
	}
	if !readJSON(w, r, &in) {
		note(r, "", "invalid request")
		return
	}
	if in.Suspended == nil {
		invalid(w, r, []fieldProblem{{Field: "suspended", Reason: "is required: true or false"}})
		return
	}
	err := a.g.db.SetTerminalSuspended(r.Context(), code, *in.Suspended)
	if errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "no merchant "+code)
		return
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if *in.Suspended {
		note(r, "", "terminal suspended")
	} else {
		note(r, "", "terminal resumed")
	}
	a.merchant(w, r, code, http.StatusOK)
}

// --- SMSC and audit

// bindView is one configured SMSC bind and its connections.
type bindView struct {
	Name        string            `json:"name"`
	Up          bool              `json:"up"`
	Trusted     bool              `json:"trusted"`
	Connections []smpp.BindStatus `json:"connections"`
}

// smsc is GET /v1/admin/smsc: every configured bind, up or not.
func (a *admin) smsc(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Binds []bindView `json:"binds"`
	}{Binds: []bindView{}}
	up := 0
	for _, b := range a.g.binds {
		v := bindView{Name: b.cfg.Name, Up: b.client.Bound(), Trusted: b.cfg.Trusted, Connections: b.client.Status()}
		if v.Connections == nil {
			v.Connections = []smpp.BindStatus{}
		}
		if v.Up {
			up++
		}
		out.Binds = append(out.Binds, v)
	}
	note(r, "", fmt.Sprintf("%d of %d up", up, len(out.Binds)))
	writeJSON(w, http.StatusOK, out)
}

// auditView is one audit row.
type auditView struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Operator string    `json:"operator"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	Status   int       `json:"status"`
	Detail   string    `json:"detail"`
}

// auditLog is GET /v1/admin/audit?limit=&operator=&action=&target=&before=:
// the newest entries first; before (an entry's id) pages back.
func (a *admin) auditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, ok := listLimit(w, r, 100, 1000)
	if !ok {
		return
	}
	f := store.AuditFilter{Operator: q.Get("operator"), Action: q.Get("action"), Target: q.Get("target"), Limit: limit}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			badRequest(w, r, "before must be an entry's id")
			return
		}
		f.Before = n
	}
	list, err := a.g.db.AuditLog(r.Context(), f)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	out := struct {
		Entries []auditView `json:"entries"`
	}{Entries: []auditView{}}
	for _, e := range list {
		out.Entries = append(out.Entries, auditView{ID: e.ID, At: e.At.UTC(), Operator: e.Operator, Action: e.Action,
			Target: e.Target, Status: e.Status, Detail: e.Detail})
	}
	note(r, "", fmt.Sprintf("%d entries", len(list)))
	writeJSON(w, http.StatusOK, out)
}
