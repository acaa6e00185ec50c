package smsc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/smpp"
)

// maxControlBody caps the request bodies of the control API.
const maxControlBody = 64 << 10

// maxAddr is the longest source or destination address a deliver_sm can
// carry (SMPP 3.4 §5.2.8: 21 octets with the NUL). An MO with a longer one
// could never be encoded, and the simulator would retry it for ever.
const maxAddr = 20

// ControlHandler returns the simulator's control API: a small JSON HTTP
// API for driving it by hand or from scripts, as `paygate sim smsc
// --control` serves it.
//
//	POST /mo              inject a phone's text: {"from","to","text","shuffle"} → 201 {"ids":[…]}
//	POST /ussd            inject a USSD message: {"from","to","op","session_hex","session_tag","text"} → 201 {"ids":[…]}
//	GET  /mo/{id}         {"delivered","attempts","last_status"} of an injected MO
//	GET  /phones/{number} what a phone received: {"texts":[…], "messages":[…]}
//	GET  /faults          the fault switches
//	PUT  /faults          change any subset of them; answers the new switches
//	GET  /binds           the bound connections, as "system_id/bind_…"
//	GET  /stats           {"mts","pending_mos","refused"}
//
// Errors are {"error":{"code":"…","message":"…"}} with a 4xx status.
// Bodies are limited to maxControlBody octets and unknown fields are
// refused. The API has no authentication: serve it on loopback only.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mo", s.ctlInjectText)
	mux.HandleFunc("POST /ussd", s.ctlInjectUSSD)
	mux.HandleFunc("GET /mo/{id}", s.ctlMO)
	mux.HandleFunc("GET /phones/{number}", s.ctlPhone)
	mux.HandleFunc("GET /faults", s.ctlGetFaults)
	mux.HandleFunc("PUT /faults", s.ctlPutFaults)
	mux.HandleFunc("GET /binds", s.ctlBinds)
	mux.HandleFunc("GET /stats", s.ctlStats)
	return jsonErrorsMux{mux}
}

// jsonErrorsMux answers the requests mux has no route for (404, 405) with
// the API's JSON error instead of ServeMux's plain text.
type jsonErrorsMux struct{ mux *http.ServeMux }

func (m jsonErrorsMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := m.mux.Handler(r); pattern != "" {
		m.mux.ServeHTTP(w, r) // ServeHTTP, not the handler: it sets PathValue
		return
	}
	rec := &headerRecorder{header: http.Header{}}
	m.mux.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			"%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow"))
	case http.StatusNotFound, 0:
		writeError(w, http.StatusNotFound, "not_found", "no such resource: %s %s", r.Method, r.URL.Path)
	default: // a redirect to the cleaned path
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
	}
}

// headerRecorder captures what ServeMux answers an unrouted request.
type headerRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(b)
}

// apiError is an error answer of the control API.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, status int, code, format string, args ...any) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, map[string]body{"error": {Code: code, Message: fmt.Sprintf(format, args...)}})
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	writeError(w, e.status, e.code, "%s", e.message)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decodeBody reads one JSON object of at most maxControlBody octets into
// v, refusing unknown fields and anything after the object.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) *apiError {
	r.Body = http.MaxBytesReader(w, r.Body, maxControlBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
			if terr != nil && !isSyntaxError(terr) {
				err = terr
			}
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "body_too_large",
			message: fmt.Sprintf("request body larger than %d octets", tooLarge.Limit)}
	case errors.Is(err, io.EOF):
		return badRequest("invalid_json", "empty request body: want a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
	default:
		return badRequest("invalid_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

func isSyntaxError(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

func checkAddr(field, v string) *apiError {
	switch {
	case v == "":
		return badRequest("missing_field", "%s is required", field)
	case len(v) > maxAddr:
		return badRequest("invalid_value", "%s is longer than %d octets", field, maxAddr)
	}
	return nil
}

type idsResponse struct {
	IDs []uint64 `json:"ids"`
}

func (s *Server) ctlInjectText(w http.ResponseWriter, r *http.Request) {
	var req struct {
		From    string `json:"from"`
		To      string `json:"to"`
		Text    string `json:"text"`
		Shuffle bool   `json:"shuffle"`
	}
	if e := decodeBody(w, r, &req); e != nil {
		writeAPIError(w, e)
		return
	}
	if e := firstError(checkAddr("from", req.From), checkAddr("to", req.To)); e != nil {
		writeAPIError(w, e)
		return
	}
	if req.Text == "" {
		writeAPIError(w, badRequest("missing_field", "text is required"))
		return
	}
	ids, err := s.InjectText(req.From, req.To, req.Text, req.Shuffle)
	if err != nil {
		writeAPIError(w, badRequest("invalid_text", "%v", err))
		return
	}
	writeJSON(w, http.StatusCreated, idsResponse{IDs: ids})
}

func firstError(errs ...*apiError) *apiError {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// sessionTags are the TLVs a carrier's USSD gateway may carry the session
// id in, by their SMPP 3.4 names.
var sessionTags = map[string]smpp.Tag{
	"its_session_info":       smpp.TagITSSessionInfo,
	"user_message_reference": smpp.TagUserMessageReference,
}

func (s *Server) ctlInjectUSSD(w http.ResponseWriter, r *http.Request) {
	var req struct {
		From       string `json:"from"`
		To         string `json:"to"`
		Op         *int   `json:"op"`
		SessionHex string `json:"session_hex"`
		SessionTag string `json:"session_tag"`
		Text       string `json:"text"`
	}
	if e := decodeBody(w, r, &req); e != nil {
		writeAPIError(w, e)
		return
	}
	if e := firstError(checkAddr("from", req.From), checkAddr("to", req.To)); e != nil {
		writeAPIError(w, e)
		return
	}
	op := int(smpp.USSDPSSRIndication)
	if req.Op != nil {
		op = *req.Op
	}
	if op < 0 || op > 255 {
		writeAPIError(w, badRequest("invalid_value", "op %d is not an octet (0 to 255)", op))
		return
	}
	if req.SessionTag == "" {
		req.SessionTag = "its_session_info"
	}
	tag, ok := sessionTags[req.SessionTag]
	if !ok {
		writeAPIError(w, badRequest("invalid_value", "session_tag %q: want its_session_info or user_message_reference", req.SessionTag))
		return
	}
	if req.SessionHex == "" {
		writeAPIError(w, badRequest("missing_field", "session_hex is required"))
		return
	}
	session, err := hex.DecodeString(req.SessionHex)
	if err != nil || len(session) > 255 {
		writeAPIError(w, badRequest("invalid_value", "session_hex must be 1 to 255 octets in hexadecimal"))
		return
	}
	if req.Text == "" {
		writeAPIError(w, badRequest("missing_field", "text is required"))
		return
	}
	// InjectUSSD encodes in GSM 7-bit when it can, else UCS-2; either must
	// fit one short message.
	n, gsm := smpp.GSM7Len(req.Text)
	if !gsm {
		n = len(smpp.EncodeUCS2(req.Text))
	}
	if n > smpp.MaxShortMessage {
		writeAPIError(w, badRequest("invalid_text", "text is longer than one short message (%d octets)", smpp.MaxShortMessage))
		return
	}
	id := s.InjectUSSD(req.From, req.To, byte(op), tag, session, req.Text)
	writeJSON(w, http.StatusCreated, idsResponse{IDs: []uint64{id}})
}

// moState is MOStatus that also says whether the MO exists.
func (s *Server) moState(id uint64) (delivered bool, attempts int, last smpp.Status, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mos[id]
	if !ok {
		return false, 0, 0, false
	}
	return m.delivered, m.attempts, m.status, true
}

func (s *Server) ctlMO(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeAPIError(w, badRequest("invalid_value", "MO id %q is not a number", r.PathValue("id")))
		return
	}
	delivered, attempts, last, ok := s.moState(id)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no MO with id %d", id)
		return
	}
	resp := struct {
		Delivered  bool    `json:"delivered"`
		Attempts   int     `json:"attempts"`
		LastStatus *string `json:"last_status"` // the ESME's last answer; null before the first attempt
	}{Delivered: delivered, Attempts: attempts}
	if attempts > 0 {
		name := last.String()
		resp.LastStatus = &name
	}
	writeJSON(w, http.StatusOK, resp)
}

type phoneMessage struct {
	MessageID     string `json:"message_id"`
	From          string `json:"from"`
	DataCoding    byte   `json:"data_coding"`
	ESMClass      byte   `json:"esm_class"`
	ServiceType   string `json:"service_type"`
	USSDServiceOp *int   `json:"ussd_service_op,omitempty"`
	Text          string `json:"text"` // this part's, decoded, without its UDH
}

func (s *Server) ctlPhone(w http.ResponseWriter, r *http.Request) {
	phone := r.PathValue("number")
	resp := struct {
		Texts    []string       `json:"texts"`
		Messages []phoneMessage `json:"messages"`
	}{Texts: s.ReceivedTexts(phone), Messages: []phoneMessage{}}
	if resp.Texts == nil {
		resp.Texts = []string{}
	}
	for _, mt := range s.Received(phone) {
		m := phoneMessage{
			MessageID:   mt.MessageID,
			From:        mt.PDU.Source.Addr,
			DataCoding:  mt.PDU.DataCoding,
			ESMClass:    mt.PDU.ESMClass,
			ServiceType: mt.PDU.ServiceType,
			Text:        smpp.NewDelivery("", mt.PDU).Text(),
		}
		if op, ok := mt.PDU.TLVs.Uint(smpp.TagUSSDServiceOp); ok {
			v := int(op)
			m.USSDServiceOp = &v
		}
		resp.Messages = append(resp.Messages, m)
	}
	writeJSON(w, http.StatusOK, resp)
}

// faultState is a snapshot of the fault switches, as the control API
// shows them. Durations are Go duration strings ("1.5s").
type faultState struct {
	Throttle     float64 `json:"throttle"`      // submits/s; 0 off
	MsgQFull     float64 `json:"msgqfull"`      // share answered ESME_RMSGQFUL
	Delay        string  `json:"delay"`         // submit answers take delay/2 to delay
	DropEvery    string  `json:"drop_every"`    // 0s never
	LoseAcks     float64 `json:"lose_acks"`     // share of deliver_sm_resp OK ignored
	Duplicates   float64 `json:"duplicates"`    // share of MOs delivered twice
	Silent       bool    `json:"silent"`        // nothing is written
	SubmitStatus string  `json:"submit_status"` // every submit answered this; ESME_ROK off
}

// state returns the current fault switches.
func (f *Faults) state() faultState {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := faultState{
		Throttle:     f.throttleRate,
		Delay:        f.responseDelay.String(),
		DropEvery:    f.dropEvery.String(),
		LoseAcks:     f.loseAckP,
		Duplicates:   f.dupP,
		Silent:       f.silent,
		SubmitStatus: f.submitStatus.String(),
	}
	if f.randomStatus == smpp.StatusMsgQFul {
		st.MsgQFull = f.randomP
	}
	return st
}

// faultChange is a change to some fault switches: nil fields stay as
// they are. Durations are Go duration strings; SubmitStatus is a status
// name ("ESME_RSUBMITFAIL"), a hexadecimal "0x45" or a JSON number.
type faultChange struct {
	Throttle     *float64        `json:"throttle"`
	MsgQFull     *float64        `json:"msgqfull"`
	Delay        *string         `json:"delay"`
	DropEvery    *string         `json:"drop_every"`
	LoseAcks     *float64        `json:"lose_acks"`
	Duplicates   *float64        `json:"duplicates"`
	Silent       *bool           `json:"silent"`
	SubmitStatus json.RawMessage `json:"submit_status"`
}

// apply validates every field of c and, only if all are valid, applies
// them to f.
func (f *Faults) apply(c faultChange) error {
	for _, p := range []struct {
		name string
		v    *float64
	}{{"msgqfull", c.MsgQFull}, {"lose_acks", c.LoseAcks}, {"duplicates", c.Duplicates}} {
		if p.v != nil {
			if err := checkProbability(*p.v); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
	}
	if c.Throttle != nil {
		if err := checkThrottle(*c.Throttle); err != nil {
			return fmt.Errorf("throttle: %w", err)
		}
	}
	var delay, dropEvery time.Duration
	for _, d := range []struct {
		name string
		s    *string
		out  *time.Duration
	}{{"delay", c.Delay, &delay}, {"drop_every", c.DropEvery, &dropEvery}} {
		if d.s == nil {
			continue
		}
		v, err := time.ParseDuration(*d.s)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration such as \"500ms\" or \"2s\"", d.name, *d.s)
		}
		if v < 0 {
			return fmt.Errorf("%s: must not be negative", d.name)
		}
		*d.out = v
	}
	var submitStatus smpp.Status
	if c.SubmitStatus != nil {
		st, err := parseStatus(c.SubmitStatus)
		if err != nil {
			return fmt.Errorf("submit_status: %w", err)
		}
		submitStatus = st
	}

	if c.Throttle != nil {
		f.SetThrottle(*c.Throttle)
	}
	if c.MsgQFull != nil {
		f.SetRandomStatus(smpp.StatusMsgQFul, *c.MsgQFull)
	}
	if c.Delay != nil {
		f.SetResponseDelay(delay)
	}
	if c.DropEvery != nil {
		f.SetDropEvery(dropEvery)
	}
	if c.LoseAcks != nil {
		f.SetLoseAcks(*c.LoseAcks)
	}
	if c.Duplicates != nil {
		f.SetDuplicates(*c.Duplicates)
	}
	if c.Silent != nil {
		f.SetSilent(*c.Silent)
	}
	if c.SubmitStatus != nil {
		f.SetSubmitStatus(submitStatus)
	}
	return nil
}

// checkProbability refuses a share outside [0, 1].
func checkProbability(p float64) error {
	if !(p >= 0 && p <= 1) { // NaN fails both
		return fmt.Errorf("%v is not a probability between 0 and 1", p)
	}
	return nil
}

// checkThrottle refuses a rate SetThrottle cannot honour: negative, not
// finite, or between 0 and 1, since the token bucket holds one second's
// worth and never reaches a whole token below 1/s, so every submit
// would be refused.
func checkThrottle(rate float64) error {
	switch {
	case math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0:
		return fmt.Errorf("%v is not a rate of 0 (off) or more submits per second", rate)
	case rate > 0 && rate < 1:
		return fmt.Errorf("%v/s is below 1/s, which would refuse every submit; use 0 (off) or at least 1", rate)
	}
	return nil
}

// parseStatus reads a command_status given as a JSON number, a name
// such as "ESME_RSUBMITFAIL", or "0x45".
func parseStatus(raw json.RawMessage) (smpp.Status, error) {
	var n uint32
	if err := json.Unmarshal(raw, &n); err == nil {
		return smpp.Status(n), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, errors.New("want a status name such as \"ESME_RSUBMITFAIL\", \"0x45\" or a number")
	}
	return parseStatusName(s)
}

// parseStatusName reads a command_status written as its ESME_ name (any
// case), in hexadecimal with 0x, or in decimal.
func parseStatusName(s string) (smpp.Status, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseUint(s, 0, 32); err == nil {
		return smpp.Status(v), nil
	}
	for st := smpp.Status(0); st <= 0x400; st++ {
		if strings.EqualFold(st.String(), s) {
			return st, nil
		}
	}
	return 0, fmt.Errorf("unknown status %q: want a name such as ESME_RSUBMITFAIL, or a number", s)
}

func (s *Server) ctlGetFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.faults.state())
}

func (s *Server) ctlPutFaults(w http.ResponseWriter, r *http.Request) {
	var c faultChange
	if e := decodeBody(w, r, &c); e != nil {
		writeAPIError(w, e)
		return
	}
	if err := s.faults.apply(c); err != nil {
		writeAPIError(w, badRequest("invalid_value", "%v", err))
		return
	}
	writeJSON(w, http.StatusOK, s.faults.state())
}

func (s *Server) ctlBinds(w http.ResponseWriter, r *http.Request) {
	binds := s.Binds()
	if binds == nil {
		binds = []string{}
	}
	slices.Sort(binds)
	writeJSON(w, http.StatusOK, binds)
}

// mtCount returns how many MTs were accepted in all.
func (s *Server) mtCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mts)
}

func (s *Server) ctlStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		MTs        int `json:"mts"`
		PendingMOs int `json:"pending_mos"`
		Refused    int `json:"refused"`
	}{s.mtCount(), s.Pending(), s.faults.Refused()})
}
