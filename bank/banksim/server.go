package banksim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/flows"
)

// maxBody caps a request body.
const maxBody = 64 << 10

// Handler returns the bank's HTTP API: SPEC.md §8 under /v1/, every
// request's signature checked (missing, wrong or stale: 401) and every
// answer signed, with the faults of Faults applied; and the simulator's
// control API under /sim/ (see ControlHandler).
//
//	POST /v1/accounts/verify     {bank, account, phone} → {exists, phone_matches, holder_name}
//	POST /v1/transfers           Idempotency-Key: id; {id, reference, debit, credit, amount, fee, currency, narrative} → {id, status, bank_reference, reason}
//	GET  /v1/transfers/{id}      {id, status, bank_reference, reason} or 404
//	POST /v1/accounts/balance    {bank, account} → {available, currency}
//	POST /v1/accounts/statement  {bank, account, limit} → {entries: [{time, amount, counterpart, reference}]}
//
// Errors are {"error":{"code","message"}}: 400 invalid_json,
// invalid_request or idempotency_key_mismatch, 401 bad_signature or
// stale_signature, 404 not_found or unknown_account, 409
// idempotency_conflict, 413 too_large, 415 unsupported_media_type, 422
// invalid_amount or invalid_currency. A rejected transfer is a 200 with
// status "rejected" and a reason (insufficient_funds, unknown_account,
// account_closed, same_account).
func (b *Bank) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/accounts/verify", b.api(RouteVerify, b.serveVerify))
	mux.Handle("POST /v1/transfers", b.api(RouteTransfer, b.servePostTransfer))
	mux.Handle("GET /v1/transfers/{id}", b.api(RouteTransferStatus, b.serveGetTransfer))
	mux.Handle("POST /v1/accounts/balance", b.api(RouteBalance, b.serveBalance))
	mux.Handle("POST /v1/accounts/statement", b.api(RouteStatement, b.serveStatement))
	mux.Handle("/v1/", b.api("", func(r *http.Request, _ []byte) response {
		return errorBody(http.StatusNotFound, "not_found", "no such resource: "+r.Method+" "+r.URL.Path)
	}))
	mux.Handle("/sim/", http.StripPrefix("/sim", b.ControlHandler()))
	return mux
}

// apiFunc handles a request whose signature holds and returns the
// status and the value to answer with as JSON.
type apiFunc func(r *http.Request, body []byte) response

// api wraps fn with the signature checks and the faults of route.
func (b *Bank) api(route string, fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				b.reply(w, sigGood, errorBody(http.StatusRequestEntityTooLarge, "too_large", "the body is over 64 KiB"))
			}
			return // the client went away
		}
		// r.RequestURI is the request target exactly as the client sent
		// it: what it signed (SPEC §8: the path with its query string).
		if err := bank.CheckRequest(b.cfg.Secret, b.cfg.Clock(), r.Header.Get(bank.SignatureHeader), r.Method, r.RequestURI, body); err != nil {
			b.count(func(s *Stats) { s.BadRequests++ })
			code := "bad_signature"
			if errors.Is(err, bank.ErrStaleSignature) {
				code = "stale_signature"
			}
			b.log.Warn("bank simulator refused a request", "route", route, "err", err)
			b.reply(w, sigGood, errorBody(http.StatusUnauthorized, code, "the request's "+bank.SignatureHeader+" does not hold"))
			return
		}
		b.count(func(s *Stats) { s.Requests++ })
		if r.Method == http.MethodPost {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				b.reply(w, sigGood, errorBody(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json"))
				return
			}
		}
		if route == "" { // an unknown resource: no faults
			b.reply(w, sigGood, fn(r, body))
			return
		}

		latency, fault, delay := b.faults.pick(route)
		if fault != FaultNone || latency {
			b.log.Debug("bank simulator fault", "route", route, "fault", string(fault), "latency", latency)
		}
		if latency && !b.wait(r.Context(), delay) {
			drop(w) // the client gave up first, or Close: the request never got in
			return
		}
		switch fault {
		case FaultErrorBefore:
			b.reply(w, sigGood, errorBody(http.StatusServiceUnavailable, "unavailable", "try again later"))
			return
		case FaultThrottle:
			w.Header().Set("Retry-After", "1")
			b.reply(w, sigGood, errorBody(http.StatusTooManyRequests, "throttled", "slow down"))
			return
		case FaultDropBefore:
			drop(w)
			return
		}

		var res response
		if fault == FaultDuplicate {
			// The same request delivered twice at once.
			var wg sync.WaitGroup
			wg.Go(func() { fn(r, body) })
			res = fn(r, body)
			wg.Wait()
		} else {
			res = fn(r, body)
		}

		switch fault {
		case FaultDropAfter:
			drop(w)
			return
		case FaultErrorAfter:
			b.reply(w, sigGood, errorBody(http.StatusInternalServerError, "internal", "something went wrong"))
			return
		case FaultStallAfter:
			b.wait(r.Context(), delay)
		case FaultBadSignature:
			b.reply(w, sigBad, res)
			return
		case FaultStaleSignature:
			b.reply(w, sigStale, res)
			return
		}
		b.reply(w, sigGood, res)
	})
}

// wait waits d, until the client goes away or until Close; it reports
// whether d elapsed.
func (b *Bank) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-b.stop:
	}
	return false
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2, or a hijack refused: the server aborts the stream
}

// response is an answer to write.
type response struct {
	status int
	v      any
}

func okJSON(v any) response { return response{http.StatusOK, v} }

func errorBody(status int, code, message string) response {
	type e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	return response{status, struct {
		Error e `json:"error"`
	}{e{code, message}}}
}

func errorOf(e *apiError) response { return errorBody(e.status, e.code, e.message) }

type sigMode int

const (
	sigGood sigMode = iota
	sigBad
	sigStale
)

// reply writes res as signed JSON (SPEC §8: "<t>.<status code>.<body>").
func (b *Bank) reply(w http.ResponseWriter, mode sigMode, res response) {
	body, err := json.Marshal(res.v)
	if err != nil {
		res.status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding"}}`)
	}
	now := b.cfg.Clock()
	var sig string
	switch mode {
	case sigBad:
		sig = bank.SignResponse([]byte("not the shared secret"), now, res.status, body)
	case sigStale:
		sig = bank.SignResponse(b.cfg.Secret, now.Add(-2*bank.MaxSignatureAge), res.status, body)
	default:
		sig = bank.SignResponse(b.cfg.Secret, now, res.status, body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(bank.SignatureHeader, sig)
	w.WriteHeader(res.status)
	w.Write(body)
}

// decode reads a JSON body strictly: one object, no unknown fields.
func decode(body []byte, v any) *apiError {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return &apiError{http.StatusBadRequest, "invalid_json", "the body is not the expected JSON object"}
	}
	if d.More() {
		return &apiError{http.StatusBadRequest, "invalid_json", "one JSON object only"}
	}
	return nil
}

func (b *Bank) serveVerify(r *http.Request, body []byte) response {
	var req struct {
		Bank    string `json:"bank"`
		Account string `json:"account"`
		Phone   string `json:"phone"`
	}
	if e := decode(body, &req); e != nil {
		return errorOf(e)
	}
	if req.Bank == "" || req.Account == "" || req.Phone == "" {
		return errorBody(http.StatusBadRequest, "invalid_request", "bank, account and phone are required")
	}
	exists, matches, holder := b.verify(req.Bank, flows.AccountNumber(req.Account), flows.MSISDN(req.Phone))
	return okJSON(struct {
		Exists       bool   `json:"exists"`
		PhoneMatches bool   `json:"phone_matches"`
		HolderName   string `json:"holder_name"`
	}{exists, matches, holder})
}

type transferResponse struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	BankReference string `json:"bank_reference"`
	Reason        string `json:"reason"`
}

func toResponse(r bank.TransferResult) transferResponse {
	return transferResponse{ID: r.ID, Status: r.Status, BankReference: r.BankReference, Reason: r.Reason}
}

func (b *Bank) servePostTransfer(r *http.Request, body []byte) response {
	var req transferRequest
	if e := decode(body, &req); e != nil {
		return errorOf(e)
	}
	switch key := r.Header.Get("Idempotency-Key"); {
	case req.ID == "":
		return errorBody(http.StatusBadRequest, "invalid_request", "no id")
	case key == "":
		return errorBody(http.StatusBadRequest, "invalid_request", "no Idempotency-Key header")
	case key != req.ID:
		return errorBody(http.StatusBadRequest, "idempotency_key_mismatch", "the Idempotency-Key is not the transfer id")
	}
	res, e := b.transfer(req)
	if e != nil {
		return errorOf(e)
	}
	b.log.Debug("bank simulator transfer", "id", res.ID, "status", res.Status, "reason", res.Reason)
	return okJSON(toResponse(res))
}

func (b *Bank) serveGetTransfer(r *http.Request, _ []byte) response {
	res, ok := b.Transfer(r.PathValue("id"))
	if !ok {
		return errorBody(http.StatusNotFound, "not_found", "no such transfer")
	}
	return okJSON(toResponse(res))
}

func (b *Bank) serveBalance(r *http.Request, body []byte) response {
	var req party
	if e := decode(body, &req); e != nil {
		return errorOf(e)
	}
	a, ok := b.Account(req.Bank, flows.AccountNumber(req.Account))
	if !ok {
		return errorBody(http.StatusNotFound, "unknown_account", "no such account")
	}
	return okJSON(struct {
		Available int64  `json:"available"`
		Currency  string `json:"currency"`
	}{a.Balance, b.cfg.Currency})
}

// Statement limits: the default when limit is 0, and the most.
const (
	defaultStatement = 10
	maxStatement     = 100
)

func (b *Bank) serveStatement(r *http.Request, body []byte) response {
	var req struct {
		Bank    string `json:"bank"`
		Account string `json:"account"`
		Limit   int    `json:"limit"`
	}
	if e := decode(body, &req); e != nil {
		return errorOf(e)
	}
	switch {
	case req.Limit < 0:
		return errorBody(http.StatusBadRequest, "invalid_request", "limit must not be negative")
	case req.Limit == 0:
		req.Limit = defaultStatement
	}
	ps, ok := b.statement(key{req.Bank, req.Account}, min(req.Limit, maxStatement))
	if !ok {
		return errorBody(http.StatusNotFound, "unknown_account", "no such account")
	}
	type entry struct {
		Time        time.Time `json:"time"`
		Amount      int64     `json:"amount"`
		Counterpart string    `json:"counterpart"`
		Reference   string    `json:"reference"`
	}
	entries := make([]entry, 0, len(ps))
	for _, p := range ps {
		entries = append(entries, entry{p.Time.UTC(), p.Amount, p.Counterpart.Reveal(), p.Reference})
	}
	return okJSON(struct {
		Entries []entry `json:"entries"`
	}{entries})
}
