package bank

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// maxIDLen bounds a transfer id: it travels in a URL path and a header.
const maxIDLen = 128

// maxAmount bounds amount + fee so that no sum overflows on either side.
const maxAmount = 1 << 62

func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("%w: a transfer id is 1 to %d bytes", ErrInvalidRequest, maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return fmt.Errorf("%w: a transfer id is printable ASCII without spaces or '/'", ErrInvalidRequest)
		}
	}
	return nil
}

func (r *TransferRequest) check() error {
	if err := checkID(r.ID); err != nil {
		return err
	}
	switch {
	case r.Debit.Bank == "" || r.Debit.Number == "" || r.Credit.Bank == "" || r.Credit.Number == "":
		return fmt.Errorf("%w: debit and credit need a bank and an account", ErrInvalidRequest)
	case r.Amount <= 0:
		return fmt.Errorf("%w: the amount must be positive", ErrInvalidRequest)
	case r.Fee < 0:
		return fmt.Errorf("%w: the fee must be 0 or more", ErrInvalidRequest)
	case r.Amount > maxAmount || r.Fee > maxAmount-r.Amount:
		return fmt.Errorf("%w: amount and fee over %d", ErrInvalidRequest, int64(maxAmount))
	case r.Currency == "":
		return fmt.Errorf("%w: no currency", ErrInvalidRequest)
	}
	return nil
}

// decodeResult reads a transfer answer for id. A final one has status
// completed or rejected; anything else is not believed from a POST.
func decodeResult(b []byte, id string, res *TransferResult) error {
	var w wireTransferResponse
	if err := json.Unmarshal(b, &w); err != nil {
		return errors.New("not JSON")
	}
	if w.ID != id {
		return errors.New("the answer is about another transfer id")
	}
	if w.Status == "" {
		return errors.New("no status")
	}
	*res = TransferResult{ID: w.ID, Status: w.Status, BankReference: w.BankReference, Reason: w.Reason}
	return nil
}

func final(status string) bool { return status == StatusCompleted || status == StatusRejected }

func statusPath(id string) string { return "/v1/transfers/" + url.PathEscape(id) }

// conclusive reports whether a final answer to a transfer POST proves
// that this id was not applied with this body whatever earlier requests
// did: the bank judged the body itself (400, 422) or holds the id for
// another body (409). An auth or routing refusal (401, 403, 404, …)
// proves nothing about an earlier request that may have got through.
func conclusive(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// Transfer implements Connector (SPEC §8 POST /v1/transfers, with
// Idempotency-Key: req.ID).
//
// A timeout, a dropped connection, a 5xx, a 429 or an answer that does
// not verify leaves the outcome unknown; Transfer then resolves it itself:
// it asks GET /v1/transfers/{id}, takes a final answer from there, and
// when the bank never received the transfer (404) sends it again with
// the same id and the same body; between attempts it backs off
// exponentially with jitter. It returns:
//
//   - a result, completed or rejected, once the bank gave one;
//   - a *FinalError for a final 4xx (never retried; Hooks.FinalError is
//     told). When an earlier request of this call may have reached the
//     bank and the refusal does not settle the matter (anything but 400,
//     409 or 422), the error wraps ErrUnknown as well;
//   - ErrCircuitOpen when the breaker was open and nothing was sent;
//   - an error wrapping ErrUnknown when ctx ended, the attempts ran out
//     or the breaker opened before a final answer. Keep the transfer
//     unknown and ask later with TransferStatus, or Transfer with the
//     same request: the bank applies one id at most once.
//
// A ctx that has already ended sends nothing and returns its error.
func (h *HTTP) Transfer(ctx context.Context, req TransferRequest) (TransferResult, error) {
	if err := req.check(); err != nil {
		return TransferResult{}, fmt.Errorf("bank: transfer: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return TransferResult{}, fmt.Errorf("bank: transfer %s not sent: %w", req.ID, err)
	}
	body, err := json.Marshal(wireTransferRequest{
		ID: req.ID, Reference: req.Reference, Debit: toWire(req.Debit), Credit: toWire(req.Credit),
		Amount: req.Amount, Fee: req.Fee, Currency: req.Currency, Narrative: req.Narrative,
	})
	if err != nil {
		return TransferResult{}, fmt.Errorf("bank: transfer %s: %w", req.ID, err)
	}
	var (
		last     error
		after    time.Duration // a 429's Retry-After
		sent     bool          // a POST of this call may have reached the bank
		inquire  bool          // ask before sending again
		requests int
	)
	decode := func(res *TransferResult) func([]byte) error {
		return func(b []byte) error { return decodeResult(b, req.ID, res) }
	}
	unknown := func(why error) error {
		return fmt.Errorf("bank: transfer %s: %w after %d requests: %w", req.ID, ErrUnknown, requests, why)
	}
	for n := 0; ; n++ {
		if n > 0 {
			if h.cfg.MaxAttempts > 0 && requests >= h.cfg.MaxAttempts {
				return TransferResult{}, unknown(last)
			}
			p := h.pause(n-1, after)
			h.log.Debug("bank transfer outcome unknown; retrying", "id", req.ID, "requests", requests, "pause", p, "err", last)
			if !sleep(ctx, p) {
				return TransferResult{}, unknown(errors.Join(ctx.Err(), last))
			}
		}
		if inquire {
			var res TransferResult
			requests++
			o, a, err := h.exchange(ctx, MethodTransferStatus, http.MethodGet, statusPath(req.ID), nil, "", decode(&res))
			switch {
			case o == OutcomeOK && final(res.Status):
				h.resolvedLog(res, requests)
				return res, nil
			case o == OutcomeOK:
				last, after = fmt.Errorf("the bank says the transfer is %q", codeLike(res.Status)), 0
				continue
			case o == OutcomeNotFound:
				// Never received: send it again, now, with the same id
				// and body. If the first is still on its way the bank's
				// idempotency makes the two one.
				inquire = false
				if h.cfg.MaxAttempts > 0 && requests >= h.cfg.MaxAttempts {
					return TransferResult{}, unknown(err)
				}
			case o == OutcomeRefused:
				return TransferResult{}, fmt.Errorf("bank: transfer %s: %w: the inquiry was refused: %w", req.ID, ErrUnknown, h.refused(MethodTransferStatus, a))
			case o == OutcomeCircuitOpen:
				return TransferResult{}, unknown(errBreakerOpened)
			case o == OutcomeCanceled:
				return TransferResult{}, unknown(err)
			default:
				last, after = err, a.retryAfter
				continue
			}
		}
		var res TransferResult
		requests++
		o, a, err := h.exchange(ctx, MethodTransfer, http.MethodPost, "/v1/transfers", body, req.ID, func(b []byte) error {
			if err := decodeResult(b, req.ID, &res); err != nil {
				return err
			}
			if !final(res.Status) {
				return fmt.Errorf("status %q is not final", res.Status)
			}
			return nil
		})
		switch {
		case o == OutcomeOK:
			if sent {
				h.resolvedLog(res, requests)
			}
			return res, nil
		case o == OutcomeRefused, o == OutcomeNotFound:
			fe := h.refused(MethodTransfer, a)
			if sent && !conclusive(fe.Status) {
				return TransferResult{}, fmt.Errorf("bank: transfer %s: %w: %w", req.ID, ErrUnknown, fe)
			}
			return TransferResult{}, fe
		case o == OutcomeCircuitOpen && !sent:
			requests--
			return TransferResult{}, fmt.Errorf("bank: transfer %s not sent: %w", req.ID, ErrCircuitOpen)
		case o == OutcomeCircuitOpen:
			return TransferResult{}, unknown(errBreakerOpened)
		case o == OutcomeCanceled:
			return TransferResult{}, unknown(err)
		}
		sent, inquire = true, true
		last, after = err, a.retryAfter
	}
}

func (h *HTTP) resolvedLog(res TransferResult, requests int) {
	h.log.Info("bank transfer resolved", "id", res.ID, "status", res.Status, "requests", requests)
	h.cfg.Hooks.resolved(res, requests)
}

// TransferStatus implements Connector (SPEC §8 GET /v1/transfers/{id}).
// Unknown outcomes are retried as for Verify. It returns ErrNotReceived
// for a signed 404, and an error wrapping ErrUnknown when the bank has
// the transfer but no final status for it yet.
func (h *HTTP) TransferStatus(ctx context.Context, id string) (TransferResult, error) {
	if err := checkID(id); err != nil {
		return TransferResult{}, fmt.Errorf("bank: transfer status: %w", err)
	}
	var res TransferResult
	o, err := h.query(ctx, MethodTransferStatus, http.MethodGet, statusPath(id), nil, true, func(b []byte) error {
		return decodeResult(b, id, &res)
	})
	switch {
	case err != nil:
		return TransferResult{}, err
	case o == OutcomeNotFound:
		return TransferResult{}, fmt.Errorf("bank: transfer %s: %w", id, ErrNotReceived)
	case !final(res.Status):
		return TransferResult{}, fmt.Errorf("bank: transfer %s: %w: the bank says it is %q", id, ErrUnknown, codeLike(res.Status))
	}
	return res, nil
}
