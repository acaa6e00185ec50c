package banksim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paygate/paygate/flows"
)

// ControlHandler returns the simulator's control API, a small JSON API
// for driving it by hand or from scripts; Handler serves it under /sim/.
// It has no authentication and takes no signature: serve it on loopback.
//
//	GET  /faults          the random faults and the script
//	PUT  /faults          change any subset of the random faults: {"delay":"2s","stall_after":0.3,"routes":["transfer"],…}
//	POST /script          queue faults: {"route":"transfer","faults":["drop_after","error_before"]}
//	DELETE /faults        every fault off, the script emptied
//	GET  /accounts        every account with its balance
//	POST /accounts        open one: {"bank","account","holder","phone","balance","closed"} → 201
//	GET  /transfers/{id}  the bank's result for a transfer and its postings
//	GET  /audit           {"ok":true} or {"ok":false,"problems":[…]}
//	GET  /stats           counters and the faults injected so far
//
// Errors are {"error":{"code","message"}} with a 4xx status; unknown
// fields are refused.
func (b *Bank) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", b.ctlGetFaults)
	mux.HandleFunc("PUT /faults", b.ctlPutFaults)
	mux.HandleFunc("DELETE /faults", b.ctlClearFaults)
	mux.HandleFunc("POST /script", b.ctlScript)
	mux.HandleFunc("GET /accounts", b.ctlAccounts)
	mux.HandleFunc("POST /accounts", b.ctlOpen)
	mux.HandleFunc("GET /transfers/{id}", b.ctlTransfer)
	mux.HandleFunc("GET /audit", b.ctlAudit)
	mux.HandleFunc("GET /stats", b.ctlStats)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, errorBody(http.StatusNotFound, "not_found", "no such resource: "+r.Method+" /sim"+r.URL.Path))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, res response) {
	body, _ := json.Marshal(res.v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.status)
	w.Write(body)
}

// faultsView is the faults as GET /faults shows them.
type faultsView struct {
	Delay          string             `json:"delay"`
	Latency        float64            `json:"latency"`
	ErrorBefore    float64            `json:"error_before"`
	Throttle       float64            `json:"throttle"`
	DropBefore     float64            `json:"drop_before"`
	DropAfter      float64            `json:"drop_after"`
	ErrorAfter     float64            `json:"error_after"`
	StallAfter     float64            `json:"stall_after"`
	Duplicate      float64            `json:"duplicate"`
	BadSignature   float64            `json:"bad_signature"`
	StaleSignature float64            `json:"stale_signature"`
	Routes         []string           `json:"routes"`
	Script         map[string][]Fault `json:"script"`
}

func (b *Bank) faultsView() faultsView {
	r := b.faults.Rates()
	if r.Routes == nil {
		r.Routes = []string{}
	}
	return faultsView{
		Delay: r.Delay.String(), Latency: r.Latency, ErrorBefore: r.ErrorBefore, Throttle: r.Throttle,
		DropBefore: r.DropBefore, DropAfter: r.DropAfter, ErrorAfter: r.ErrorAfter, StallAfter: r.StallAfter,
		Duplicate: r.Duplicate, BadSignature: r.BadSignature, StaleSignature: r.StaleSignature,
		Routes: r.Routes, Script: b.faults.Scripted(),
	}
}

// faultsChange is a PUT /faults body: nil fields stay as they are.
type faultsChange struct {
	Delay          *string   `json:"delay"`
	Latency        *float64  `json:"latency"`
	ErrorBefore    *float64  `json:"error_before"`
	Throttle       *float64  `json:"throttle"`
	DropBefore     *float64  `json:"drop_before"`
	DropAfter      *float64  `json:"drop_after"`
	ErrorAfter     *float64  `json:"error_after"`
	StallAfter     *float64  `json:"stall_after"`
	Duplicate      *float64  `json:"duplicate"`
	BadSignature   *float64  `json:"bad_signature"`
	StaleSignature *float64  `json:"stale_signature"`
	Routes         *[]string `json:"routes"`
}

func (b *Bank) ctlGetFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, okJSON(b.faultsView()))
}

func (b *Bank) ctlPutFaults(w http.ResponseWriter, r *http.Request) {
	var c faultsChange
	if e := readControl(w, r, &c); e != nil {
		writeJSON(w, errorOf(e))
		return
	}
	rates := b.faults.Rates()
	if c.Delay != nil {
		d, err := time.ParseDuration(*c.Delay)
		if err != nil {
			writeJSON(w, errorBody(http.StatusBadRequest, "invalid_value", fmt.Sprintf("delay: %q is not a duration such as \"500ms\" or \"2s\"", *c.Delay)))
			return
		}
		rates.Delay = d
	}
	for f, p := range map[Fault]*float64{
		FaultLatency: c.Latency, FaultErrorBefore: c.ErrorBefore, FaultThrottle: c.Throttle,
		FaultDropBefore: c.DropBefore, FaultDropAfter: c.DropAfter, FaultErrorAfter: c.ErrorAfter,
		FaultStallAfter: c.StallAfter, FaultDuplicate: c.Duplicate, FaultBadSignature: c.BadSignature,
		FaultStaleSignature: c.StaleSignature,
	} {
		if p != nil {
			*rates.share(f) = *p
		}
	}
	if c.Routes != nil {
		rates.Routes = *c.Routes
	}
	if err := b.faults.SetRates(rates); err != nil {
		writeJSON(w, errorBody(http.StatusBadRequest, "invalid_value", err.Error()))
		return
	}
	writeJSON(w, okJSON(b.faultsView()))
}

func (b *Bank) ctlClearFaults(w http.ResponseWriter, r *http.Request) {
	b.faults.Clear()
	writeJSON(w, okJSON(b.faultsView()))
}

func (b *Bank) ctlScript(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Route  string  `json:"route"`
		Faults []Fault `json:"faults"`
	}
	if e := readControl(w, r, &req); e != nil {
		writeJSON(w, errorOf(e))
		return
	}
	if err := b.faults.Script(req.Route, req.Faults...); err != nil {
		writeJSON(w, errorBody(http.StatusBadRequest, "invalid_value", err.Error()))
		return
	}
	writeJSON(w, okJSON(b.faultsView()))
}

// accountView is an account in the control API, number in clear: the
// simulator's accounts are test data.
type accountView struct {
	Bank    string `json:"bank"`
	Account string `json:"account"`
	Holder  string `json:"holder"`
	Phone   string `json:"phone"`
	Balance int64  `json:"balance"`
	Closed  bool   `json:"closed"`
}

func (b *Bank) ctlAccounts(w http.ResponseWriter, r *http.Request) {
	out := []accountView{}
	for _, a := range b.Accounts() {
		out = append(out, accountView{a.Bank, a.Number.Reveal(), a.Holder, string(a.Phone), a.Balance, a.Closed})
	}
	writeJSON(w, okJSON(out))
}

func (b *Bank) ctlOpen(w http.ResponseWriter, r *http.Request) {
	var v accountView
	if e := readControl(w, r, &v); e != nil {
		writeJSON(w, errorOf(e))
		return
	}
	a := Account{Bank: v.Bank, Number: flows.AccountNumber(v.Account), Holder: v.Holder, Phone: flows.MSISDN(v.Phone), Balance: v.Balance, Closed: v.Closed}
	if err := b.Open(a); err != nil {
		status, code := http.StatusBadRequest, "invalid_value"
		if strings.Contains(err.Error(), "already open") {
			status, code = http.StatusConflict, "exists"
		}
		writeJSON(w, errorBody(status, code, err.Error()))
		return
	}
	writeJSON(w, response{http.StatusCreated, v})
}

func (b *Bank) ctlTransfer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	res, ok := b.Transfer(id)
	if !ok {
		writeJSON(w, errorBody(http.StatusNotFound, "not_found", "no such transfer"))
		return
	}
	type posting struct {
		Bank    string `json:"bank"`
		Account string `json:"account"`
		Amount  int64  `json:"amount"`
	}
	ps := []posting{}
	for _, p := range b.Postings(id) {
		ps = append(ps, posting{p.Account.Bank, p.Account.Number.Reveal(), p.Amount})
	}
	writeJSON(w, okJSON(struct {
		transferResponse
		Postings []posting `json:"postings"`
	}{toResponse(res), ps}))
}

func (b *Bank) ctlAudit(w http.ResponseWriter, r *http.Request) {
	v := struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems,omitempty"`
	}{OK: true}
	if err := b.Audit(); err != nil {
		v.OK = false
		v.Problems = strings.Split(err.Error(), "\n")
	}
	writeJSON(w, okJSON(v))
}

func (b *Bank) ctlStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, okJSON(struct {
		Stats
		Faults map[Fault]int `json:"faults"`
	}{b.Stats(), b.faults.Injected()}))
}

// readControl decodes a control API body strictly.
func readControl(w http.ResponseWriter, r *http.Request, v any) *apiError {
	body, err := readAllLimited(w, r)
	if err != nil {
		return &apiError{http.StatusRequestEntityTooLarge, "too_large", "the body is over 64 KiB"}
	}
	return decode(body, v)
}
