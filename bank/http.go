package bank

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/flows"
)

// maxBody caps a bank's answer. §8 answers are a few hundred bytes; a
// statement of 100 entries is some 15 KiB.
const maxBody = 1 << 20

// HTTPConfig configures an HTTP connector. Zero values mean the
// documented default.
type HTTPConfig struct {
	// URL is the bank API's base URL (SPEC §1 bank.url), http or https;
	// request paths are appended to it. Required.
	URL string
	// Secret is the HMAC key of the signatures (bank.secret_file, see
	// ReadSecretFile). Required.
	Secret Secret
	// CAFile is a PEM CA to trust for an https URL; default the system's
	// roots. CertFile and KeyFile are a client certificate for mutual
	// TLS; both or neither.
	CAFile, CertFile, KeyFile string
	// Timeout bounds each request, from sending to the end of the
	// answer; a request that takes longer has an unknown outcome.
	// Default 10s.
	Timeout time.Duration
	// MaxAttempts caps the requests of one call; when they run out the
	// call returns an error wrapping ErrUnknown. Default 0: no cap, a
	// call ends with a final answer, when its ctx ends or when the
	// breaker opens. Give ctx a deadline.
	MaxAttempts int
	// Backoff between attempts after an unknown outcome: exponential
	// from BackoffMin (default 100ms) to BackoffMax (default 5s), with
	// jitter. A 429's Retry-After is honoured up to BackoffMax.
	BackoffMin, BackoffMax time.Duration
	// The circuit breaker opens when, over the last BreakerWindow
	// (default 10s), at least BreakerThreshold requests (default 5;
	// negative: no breaker) had an unknown outcome and they were at
	// least BreakerRatio (default 0.5) of the requests. It stays open
	// for BreakerCooldown (default 30s), then lets one probe go.
	BreakerThreshold int
	BreakerRatio     float64
	BreakerWindow    time.Duration
	BreakerCooldown  time.Duration
	// Clock gives the time of signatures and of the breaker. Default
	// time.Now.
	Clock  func() time.Time
	Hooks  *Hooks
	Logger *slog.Logger
}

func (c *HTTPConfig) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Timeout, 10*time.Second)
	def(&c.BackoffMin, 100*time.Millisecond)
	def(&c.BackoffMax, 5*time.Second)
	def(&c.BreakerCooldown, 30*time.Second)
	def(&c.BreakerWindow, 10*time.Second)
	if !(c.BreakerRatio > 0 && c.BreakerRatio <= 1) {
		c.BreakerRatio = 0.5
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.BreakerThreshold == 0 {
		c.BreakerThreshold = 5
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Hooks == nil {
		c.Hooks = &Hooks{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// HTTP is the connector of SPEC.md §8. Its methods are safe for
// concurrent use; Close releases its idle connections.
type HTTP struct {
	cfg     HTTPConfig
	base    string // the URL without a trailing slash
	tr      *http.Transport
	client  *http.Client
	breaker *breaker
	log     *slog.Logger
}

var _ Connector = (*HTTP)(nil)

// NewHTTP returns a connector to the bank at cfg.URL. It checks the
// configuration and loads the TLS files; it does not contact the bank.
// Errors name the bad setting, never the secret.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	cfg.setDefaults()
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("bank url: not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("bank url: %s is not an http(s)://host[:port][/path] URL", u.Redacted())
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("bank secret: empty")
	}
	tlsCfg, err := tlsConfig(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 nil, // libraries never read the environment
		DialContext:           (&net.Dialer{Timeout: min(cfg.Timeout, 10*time.Second), KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   min(cfg.Timeout, 10*time.Second),
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	h := &HTTP{
		cfg:  cfg,
		base: strings.TrimSuffix(u.String(), "/"),
		tr:   tr,
		client: &http.Client{
			Transport: tr,
			// A redirect would turn a POST into a GET: a bank API does
			// not redirect, and a 3xx is a bad answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		log: cfg.Logger,
	}
	h.breaker = &breaker{
		threshold: cfg.BreakerThreshold,
		ratio:     cfg.BreakerRatio,
		window:    cfg.BreakerWindow,
		cooldown:  cfg.BreakerCooldown,
		now:       cfg.Clock,
		changed: func(from, to BreakerState) {
			h.log.Warn("bank circuit breaker", "from", from.String(), "to", to.String())
			cfg.Hooks.breaker(from, to)
		},
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		h.log.Warn("bank url is plain http beyond loopback: use https in production (SPEC §8)", "url", u.Redacted())
	}
	return h, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close closes the connector's idle connections. Calls under way finish
// on their own connections.
func (h *HTTP) Close() error {
	h.tr.CloseIdleConnections()
	return nil
}

// BreakerState returns the circuit breaker's state.
func (h *HTTP) BreakerState() BreakerState { return h.breaker.State() }

// answer is a bank's answer to one request.
type answer struct {
	status     int
	body       []byte
	retryAfter time.Duration // of a 429
}

// exchange sends one signed request through the breaker and classifies
// the answer. A signed 2xx body is handed to decode, whose error makes it
// OutcomeBadResponse. Hooks.Call hears of every request.
func (h *HTTP) exchange(ctx context.Context, method, verb, path string, body []byte, idemKey string, decode func([]byte) error) (Outcome, answer, error) {
	done, ok := h.breaker.allow()
	if !ok {
		h.cfg.Hooks.call(method, OutcomeCircuitOpen, 0)
		return OutcomeCircuitOpen, answer{}, ErrCircuitOpen
	}
	start := time.Now()
	o, a, err := h.roundTrip(ctx, verb, path, body, idemKey)
	if o == OutcomeNotFound && method != MethodTransferStatus {
		o = OutcomeRefused // only an inquiry's 404 means "never received"
	}
	if o == OutcomeOK && decode != nil {
		if derr := decode(a.body); derr != nil {
			o, err = OutcomeBadResponse, fmt.Errorf("%s %s: %d answer: %w", verb, path, a.status, derr)
		}
	}
	switch {
	case o == OutcomeCanceled:
		done(verdictNeutral)
	case o.unknown():
		done(verdictFailure)
	default:
		done(verdictSuccess)
	}
	h.cfg.Hooks.call(method, o, time.Since(start))
	return o, a, err
}

// roundTrip sends one signed request and reads and checks the answer.
func (h *HTTP) roundTrip(ctx context.Context, verb, path string, body []byte, idemKey string) (Outcome, answer, error) {
	rctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(rctx, verb, h.base+path, rd)
	if err != nil {
		return OutcomeDropped, answer{}, fmt.Errorf("%s %s: %w", verb, path, stripURL(err))
	}
	// Sign the request target exactly as it goes on the wire: the path
	// with its query string, escaped as sent (SPEC §8).
	req.Header.Set(SignatureHeader, SignRequest(h.cfg.Secret, h.cfg.Clock(), verb, req.URL.RequestURI(), body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	// Without GetBody the transport never resends a POST by itself (it
	// would, on a reused connection, for one with an Idempotency-Key):
	// every resend goes through the inquiry first and is counted.
	req.GetBody = nil
	resp, err := h.client.Do(req)
	if err != nil {
		return h.failed(ctx, rctx, verb, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return h.failed(ctx, rctx, verb, path, err)
	}
	a := answer{status: resp.StatusCode, body: b}
	if len(b) > maxBody {
		return OutcomeBadResponse, a, fmt.Errorf("%s %s: answer over %d bytes", verb, path, maxBody)
	}
	switch {
	case a.status >= 500:
		return OutcomeServerError, a, fmt.Errorf("%s %s: %d", verb, path, a.status)
	case a.status == http.StatusTooManyRequests:
		a.retryAfter = retryAfter(resp.Header.Get("Retry-After"), h.cfg.Clock())
		return OutcomeThrottled, a, fmt.Errorf("%s %s: %d", verb, path, a.status)
	}
	// Only a signed answer is believed: an unsigned 200 might come from a
	// proxy or an attacker, and so might an unsigned 4xx.
	if err := CheckResponse(h.cfg.Secret, h.cfg.Clock(), resp.Header.Get(SignatureHeader), a.status, b); err != nil {
		return OutcomeBadSignature, a, fmt.Errorf("%s %s: %d answer: %w", verb, path, a.status, err)
	}
	switch {
	case a.status >= 200 && a.status < 300:
		return OutcomeOK, a, nil
	case a.status == http.StatusNotFound:
		return OutcomeNotFound, a, fmt.Errorf("%s %s: %d", verb, path, a.status)
	case a.status >= 400:
		return OutcomeRefused, a, fmt.Errorf("%s %s: %d", verb, path, a.status)
	}
	return OutcomeBadResponse, a, fmt.Errorf("%s %s: unexpected status %d", verb, path, a.status)
}

// failed classifies a request that got no (whole) answer.
func (h *HTTP) failed(ctx, rctx context.Context, verb, path string, err error) (Outcome, answer, error) {
	err = fmt.Errorf("%s %s: %w", verb, path, stripURL(err))
	switch {
	case ctx.Err() != nil:
		return OutcomeCanceled, answer{}, err
	case rctx.Err() != nil:
		return OutcomeTimeout, answer{}, fmt.Errorf("%w (no answer within %v)", err, h.cfg.Timeout)
	}
	return OutcomeDropped, answer{}, err
}

// stripURL drops the *url.Error around a transport error: its text holds
// the whole URL, which may carry credentials.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return 0
}

// pause is the wait before retry n, at least what a 429 asked for (up to
// BackoffMax).
func (h *HTTP) pause(n int, after time.Duration) time.Duration {
	return max(backoff(n, h.cfg.BackoffMin, h.cfg.BackoffMax), min(after, h.cfg.BackoffMax))
}

// refused turns a final answer into a *FinalError, tells the hook and
// logs it once.
func (h *HTTP) refused(method string, a answer) *FinalError {
	fe := &FinalError{Method: method, Status: a.status, Code: errorCode(a.body)}
	h.log.Warn("bank refused a request", "method", method, "status", fe.Status, "code", fe.Code)
	h.cfg.Hooks.finalError(fe)
	return fe
}

// query makes a request that is safe to repeat (everything but POST
// /v1/transfers), again after every unknown outcome, until a final
// answer. A signed 404 is an answer (OutcomeNotFound) when notFoundOK,
// else a *FinalError as any other final 4xx is.
func (h *HTTP) query(ctx context.Context, method, verb, path string, in any, notFoundOK bool, decode func([]byte) error) (Outcome, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return "", fmt.Errorf("bank: %s: %w", method, err)
		}
	}
	var last error
	var after time.Duration
	for n := 0; ; n++ {
		if n > 0 {
			if h.cfg.MaxAttempts > 0 && n >= h.cfg.MaxAttempts {
				return OutcomeCanceled, fmt.Errorf("bank: %s: %w after %d attempts: %w", method, ErrUnknown, n, last)
			}
			p := h.pause(n-1, after)
			h.log.Debug("bank request retrying", "method", method, "attempt", n+1, "pause", p, "err", last)
			if !sleep(ctx, p) {
				return OutcomeCanceled, fmt.Errorf("bank: %s: %w: %w", method, ErrUnknown, errors.Join(ctx.Err(), last))
			}
		}
		o, a, err := h.exchange(ctx, method, verb, path, body, "", decode)
		switch {
		case o == OutcomeOK, o == OutcomeNotFound && notFoundOK:
			return o, nil
		case o == OutcomeRefused, o == OutcomeNotFound:
			return o, h.refused(method, a)
		case o == OutcomeCircuitOpen && n == 0:
			return o, fmt.Errorf("bank: %s: %w", method, ErrCircuitOpen)
		case o == OutcomeCircuitOpen:
			return o, fmt.Errorf("bank: %s: %w: %w after %v", method, ErrUnknown, errBreakerOpened, last)
		case o == OutcomeCanceled:
			return o, fmt.Errorf("bank: %s: %w: %w", method, ErrUnknown, err)
		}
		last, after = err, a.retryAfter
	}
}

// Verify implements Connector (SPEC §8 POST /v1/accounts/verify).
func (h *HTTP) Verify(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
	if req.Bank == "" || req.Account == "" || req.Phone == "" {
		return VerifyResult{}, fmt.Errorf("bank: verify: %w: bank, account and phone are required", ErrInvalidRequest)
	}
	var res VerifyResult
	_, err := h.query(ctx, MethodVerify, http.MethodPost, "/v1/accounts/verify",
		wireVerifyRequest{Bank: req.Bank, Account: req.Account.Reveal(), Phone: string(req.Phone)}, false,
		func(b []byte) error {
			var w wireVerifyResponse
			if err := json.Unmarshal(b, &w); err != nil {
				return errors.New("not JSON")
			}
			if w.Exists == nil {
				return errors.New("no exists field")
			}
			res = VerifyResult{Exists: *w.Exists, PhoneMatches: *w.Exists && w.PhoneMatches, HolderName: w.HolderName}
			return nil
		})
	if err != nil {
		return VerifyResult{}, err
	}
	return res, nil
}

// Balance implements Connector (SPEC §8 POST /v1/accounts/balance).
func (h *HTTP) Balance(ctx context.Context, account Account) (Balance, error) {
	if account.Bank == "" || account.Number == "" {
		return Balance{}, fmt.Errorf("bank: balance: %w: bank and account are required", ErrInvalidRequest)
	}
	var res Balance
	_, err := h.query(ctx, MethodBalance, http.MethodPost, "/v1/accounts/balance", toWire(account), false,
		func(b []byte) error {
			var w wireBalanceResponse
			if err := json.Unmarshal(b, &w); err != nil {
				return errors.New("not JSON")
			}
			if w.Available == nil || w.Currency == "" {
				return errors.New("available or currency missing")
			}
			res = Balance{Available: *w.Available, Currency: w.Currency}
			return nil
		})
	if err != nil {
		return Balance{}, err
	}
	return res, nil
}

// MaxStatement is the most entries Statement asks for.
const MaxStatement = 100

// Statement implements Connector (SPEC §8 POST /v1/accounts/statement).
// limit must be 1 to MaxStatement.
func (h *HTTP) Statement(ctx context.Context, account Account, limit int) ([]Entry, error) {
	if account.Bank == "" || account.Number == "" || limit < 1 || limit > MaxStatement {
		return nil, fmt.Errorf("bank: statement: %w: bank, account and a limit of 1 to %d are required", ErrInvalidRequest, MaxStatement)
	}
	var res []Entry
	_, err := h.query(ctx, MethodStatement, http.MethodPost, "/v1/accounts/statement",
		wireStatementRequest{Bank: account.Bank, Account: account.Number.Reveal(), Limit: limit}, false,
		func(b []byte) error {
			var w wireStatementResponse
			if err := json.Unmarshal(b, &w); err != nil {
				return errors.New("not JSON")
			}
			if w.Entries == nil {
				return errors.New("no entries field")
			}
			res = make([]Entry, 0, len(*w.Entries))
			for _, e := range *w.Entries {
				res = append(res, Entry{Time: e.Time, Amount: e.Amount, Counterpart: flows.AccountNumber(e.Counterpart), Reference: e.Reference})
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if len(res) > limit {
		res = res[:limit]
	}
	return res, nil
}
