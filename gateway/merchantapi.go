package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// The merchant API (SPEC §5.4, §7): payment requests, authenticated by a
// Bearer API key per merchant (store.AddAPIKey). Each call is one flow
// step (two for a terminal's PIN: the check runs between them, outside
// the writer); the state is the request's transfer.

// merchantRoutes serves the merchant API on mux.
func (g *Gateway) merchantRoutes(mux *http.ServeMux) {
	g.apiRoute(mux, "POST /v1/payment-requests", g.merchantOnly(g.idempotent(merchantScope, g.postPaymentRequest)))
	g.apiRoute(mux, "POST /v1/payment-requests/{id}/code", g.merchantOnly(g.idempotent(merchantScope, g.postRequestCode)))
	g.apiRoute(mux, "GET /v1/payment-requests/{id}", g.merchantOnly(g.getPaymentRequest))
}

type merchantKey struct{}

// requestMerchant is the code of the merchant whose key authenticated r.
func requestMerchant(r *http.Request) string {
	code, _ := r.Context().Value(merchantKey{}).(string)
	return code
}

// merchantOnly lets through requests with a live merchant API key, the
// merchant's code in their context; others get 401.
func (g *Gateway) merchantOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, ok := bearer(r)
		if !ok {
			g.metrics.api.WithLabelValues("merchant", "unauthorized").Inc()
			writeError(w, http.StatusUnauthorized, "unauthorized", "send the merchant's API key as Authorization: Bearer <key>")
			return
		}
		code, err := g.db.MerchantByKey(r.Context(), key)
		switch {
		case errors.Is(err, store.ErrBadKey):
			g.metrics.api.WithLabelValues("merchant", "unauthorized").Inc()
			writeError(w, http.StatusUnauthorized, "unauthorized", "the API key is not valid")
			return
		case err != nil:
			g.log.Error("api: reading API keys", "err", err)
			writeUnavailable(w)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), merchantKey{}, code)))
	}
}

// merchantScope is the Idempotency-Key scope of a merchant's call: each
// merchant's keys are its own.
func merchantScope(r *http.Request) string {
	if code := requestMerchant(r); code != "" {
		return "merchant:" + code
	}
	return ""
}

// bearer is the token of r's Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// writeUnavailable answers 503: the store could not be reached; nothing
// was done, and the call may be made again.
func writeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(flows.ReqBusyRetrySec))
	writeError(w, http.StatusServiceUnavailable, "unavailable", "the service cannot answer now; nothing was done; try again")
}

// requestStatus is the HTTP status of a refusal's code.
var requestStatus = map[string]int{
	flows.ReqForbidden:   http.StatusForbidden,
	flows.ReqNotReady:    http.StatusUnprocessableEntity,
	flows.ReqLimit:       http.StatusUnprocessableEntity,
	flows.ReqInvalid:     http.StatusUnprocessableEntity,
	flows.ReqAuthFailed:  http.StatusUnprocessableEntity,
	flows.ReqRateLimited: http.StatusTooManyRequests,
	flows.ReqLocked:      http.StatusLocked,
	flows.ReqExpired:     http.StatusGone,
	flows.ReqConflict:    http.StatusConflict,
	flows.ReqNotFound:    http.StatusNotFound,
	flows.ReqUnavailable: http.StatusServiceUnavailable,
}

// writeRefusal answers a refused request step.
func (g *Gateway) writeRefusal(w http.ResponseWriter, e *flows.RequestError) {
	status, ok := requestStatus[e.Code]
	if !ok {
		status = http.StatusUnprocessableEntity
	}
	g.metrics.api.WithLabelValues("merchant", e.Code).Inc()
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(flows.ReqBusyRetrySec))
	}
	body := struct {
		Error struct {
			Code    string     `json:"code"`
			Message string     `json:"message"`
			Until   *time.Time `json:"locked_until,omitempty"`
		} `json:"error"`
	}{}
	body.Error.Code, body.Error.Message = e.Code, e.Message
	if !e.Until.IsZero() {
		u := e.Until.UTC()
		body.Error.Until = &u
	}
	writeJSON(w, status, body)
}

// paymentRequestBody is POST /v1/payment-requests' body (SPEC §7).
type paymentRequestBody struct {
	Merchant  string `json:"merchant"`
	Phone     string `json:"phone"`
	Amount    int64  `json:"amount"` // minor units
	Currency  string `json:"currency"`
	Reference string `json:"reference"`
	Mode      string `json:"mode"`
	PIN       string `json:"pin"`
}

// maxReference bounds a merchant's reference: it goes in SMS texts.
const maxReference = 40

func (g *Gateway) postPaymentRequest(w http.ResponseWriter, r *http.Request) {
	var b paymentRequestBody
	if !readJSON(w, r, &b) {
		return
	}
	merchant := requestMerchant(r)
	if b.Merchant != merchant {
		g.writeRefusal(w, &flows.RequestError{Code: flows.ReqForbidden, Message: "the API key is not the key of merchant " + strconv.Quote(b.Merchant)})
		return
	}
	nr, problem := g.newRequest(b)
	if problem != "" {
		g.writeRefusal(w, &flows.RequestError{Code: flows.ReqInvalid, Message: problem})
		return
	}
	nr.Merchant, nr.At = merchant, g.now()
	ctx := r.Context()
	var out flows.RequestOutcome
	var work *flows.PINWork
	err := g.db.Step(ctx, func(tx *store.Tx) error {
		var err error
		out, work, err = g.engine.StartRequest(ctx, tx, nr)
		return err
	})
	if err != nil {
		g.log.Error("api: payment request step failed", "merchant", merchant, "err", err)
		writeUnavailable(w)
		return
	}
	if out.Err == nil && work != nil {
		res, err := g.pinWork(ctx, work)
		if err != nil {
			res = flows.PINResult{Err: err}
		}
		at := g.now()
		err = g.db.Step(context.WithoutCancel(ctx), func(tx *store.Tx) error {
			var err error
			out, err = g.engine.ResumeRequest(ctx, tx, out.Request.ID, work, res, at)
			return err
		})
		if err != nil {
			g.log.Error("api: payment request PIN step failed", "merchant", merchant, "err", err)
			writeUnavailable(w)
			return
		}
	}
	if out.Err != nil {
		g.writeRefusal(w, out.Err)
		return
	}
	g.metrics.api.WithLabelValues("merchant", "created").Inc()
	w.Header().Set("Location", "/v1/payment-requests/"+out.Request.ID)
	writeJSON(w, http.StatusCreated, g.engine.ViewRequest(out.Request, out.Transfer, out.Merchant))
}

// newRequest checks b's fields and makes the request of them, or says
// what is wrong (never quoting the PIN).
func (g *Gateway) newRequest(b paymentRequestBody) (flows.NewRequest, string) {
	phone, err := flows.ParseMSISDN(b.Phone, g.cfg.Country)
	if err != nil {
		return flows.NewRequest{}, "phone is not a phone number (E.164, such as +8613800138000)"
	}
	if b.Amount <= 0 {
		return flows.NewRequest{}, "amount must be a whole number of minor units above 0"
	}
	if b.Currency != g.cfg.Currency {
		return flows.NewRequest{}, "currency must be " + g.cfg.Currency
	}
	if n := utf8.RuneCountInString(b.Reference); n > maxReference || !utf8.ValidString(b.Reference) ||
		strings.IndexFunc(b.Reference, unicode.IsControl) >= 0 {
		return flows.NewRequest{}, "reference must be at most " + strconv.Itoa(maxReference) + " printable characters"
	}
	mode := flows.RequestMode(b.Mode)
	switch {
	case !mode.Valid():
		return flows.NewRequest{}, `mode must be "push" or "terminal"`
	case mode == flows.ModePush && b.PIN != "":
		return flows.NewRequest{}, "pin is only for terminal mode: in push mode the customer types it on the phone"
	case mode == flows.ModeTerminal && !pinShaped(b.PIN, g.cfg.PINLength):
		return flows.NewRequest{}, "pin must be the customer's " + strconv.Itoa(g.cfg.PINLength) + "-digit PIN in terminal mode"
	}
	return flows.NewRequest{Phone: phone, Amount: flows.Amount(b.Amount), Reference: b.Reference, Mode: mode, PIN: flows.PIN(b.PIN)}, ""
}

// pinShaped reports whether s is n ASCII digits.
func pinShaped(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (g *Gateway) postRequestCode(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Code string `json:"code"`
	}
	if !readJSON(w, r, &b) {
		return
	}
	if !pinShaped(b.Code, 6) {
		g.writeRefusal(w, &flows.RequestError{Code: flows.ReqInvalid, Message: "code must be the 6 digits the customer got by SMS"})
		return
	}
	merchant, id := requestMerchant(r), r.PathValue("id")
	ctx := r.Context()
	var out flows.RequestOutcome
	err := g.db.Step(ctx, func(tx *store.Tx) error {
		var err error
		out, err = g.engine.RequestCode(ctx, tx, merchant, id, flows.OTP(b.Code), g.now())
		return err
	})
	if err != nil {
		g.log.Error("api: payment request code step failed", "merchant", merchant, "err", err)
		writeUnavailable(w)
		return
	}
	if out.Err != nil {
		g.writeRefusal(w, out.Err)
		return
	}
	g.metrics.api.WithLabelValues("merchant", "code_accepted").Inc()
	writeJSON(w, http.StatusAccepted, struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}{out.Request.ID, string(out.Transfer.State)})
}

// Long-polls (GET ?wait=) read the request again every longPollEvery, up to
// maxWait.
const (
	maxWait       = 60 * time.Second
	longPollEvery = 200 * time.Millisecond
)

func (g *Gateway) getPaymentRequest(w http.ResponseWriter, r *http.Request) {
	var wait time.Duration
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			if n, nerr := strconv.Atoi(s); nerr == nil {
				d, err = time.Duration(n)*time.Second, nil
			}
		}
		if err != nil || d < 0 || d > maxWait {
			writeError(w, http.StatusBadRequest, "invalid_request", "wait must be a duration such as 30s, at most 60s")
			return
		}
		wait = d
	}
	merchant, id := requestMerchant(r), r.PathValue("id")
	ctx := r.Context()
	deadline := time.Now().Add(wait)
	for {
		req, t, m, err := g.db.RequestState(ctx, id)
		switch {
		case errors.Is(err, flows.ErrNotFound) || (err == nil && req.Merchant != merchant):
			g.writeRefusal(w, &flows.RequestError{Code: flows.ReqNotFound, Message: "no payment request " + strconv.Quote(id)})
			return
		case err != nil:
			g.log.Error("api: reading payment request", "err", err)
			writeUnavailable(w)
			return
		}
		left := time.Until(deadline)
		if t.State.Final() || left <= 0 {
			writeJSON(w, http.StatusOK, g.engine.ViewRequest(req, t, m))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(longPollEvery, left)):
		}
	}
}
