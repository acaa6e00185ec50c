package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// The webhook dispatcher posts the webhook outbox (SPEC §7): events a
// flow step queued (store.Tx.QueueWebhook) are claimed with a lease and
// POSTed to their merchant's URL, signed
//
//	Paygate-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// with the merchant's secret (store.DB.SetMerchantWebhook), together
// with Paygate-Event-Id (the event's id, the same on every attempt, for
// the receiver to dedupe on) and Paygate-Event-Type. Any 2xx answer
// delivers the event. Anything else — another status, a redirect (never
// followed), a timeout, a refused connection — is retried with
// exponential backoff and jitter, capped at webhooks.max_backoff, until
// a 2xx comes: delivery is at least once. A crash between the answer and
// its record posts the event again when its lease ends.
//
// An event is ended undelivered, with the reason kept for operators
// (store.DB.Webhooks), only when no retry can help: its merchant has no
// webhook URL, no signing secret, no longer exists, or has a URL the
// policy below refuses. Setting the URL again is what changes that.
//
// Where a webhook may lead (checkWebhookURL, and again at every post): an
// https:// URL, or http:// to loopback in the sandbox only. Outside the
// sandbox the server must not be an internal address — private,
// loopback, link-local, unspecified, multicast, CGNAT (100.64.0.0/10),
// IPv4-mapped IPv6 included — which is checked on the address actually
// dialled (net.Dialer.Control), so that a name that resolves elsewhere
// later (DNS rebinding) cannot reach an internal host either.
//
// Neither the URL (its query may hold a token) nor the secret is ever
// logged, counted or kept in an error: metrics are labelled by merchant
// code.

const (
	webhookBatch      = 32          // events claimed at once
	webhookConcurrent = 16          // posts in flight at once
	webhookPoll       = time.Second // claim this often without a signal
	// webhookMaxAnswer is how much of an answer's body is read (and
	// thrown away): enough to reuse the connection, no more.
	webhookMaxAnswer = 4 << 10
	// webhookResolveLimit bounds the name lookup of checkWebhookURL.
	webhookResolveLimit = 5 * time.Second
	webhookUserAgent    = "paygate-webhooks/1"
)

// Results of paygate_webhook_attempts_total.
const (
	webhookDelivered     = "delivered"     // a 2xx answer
	webhookFailed        = "failed"        // no 2xx: tried again later
	webhookUndeliverable = "undeliverable" // ended without a post that could succeed
)

// startWebhooks starts the webhook dispatcher of g, which runs until ctx
// ends; g.wg waits for it.
func (g *Gateway) startWebhooks(ctx context.Context) {
	d := newWebhookDispatcher(g, g.sandbox)
	g.webhooks = d
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		d.run(ctx)
	}()
}

// webhookSandbox reports whether g runs as the sandbox.
func (g *Gateway) webhookSandbox() bool { return g.sandbox }

// checkWebhookURL checks a webhook URL an operator gives a merchant
// (SPEC §7): the syntax of store.ValidateWebhook (an absolute URL, no
// user or password), then https://, or http:// to a loopback host in the
// sandbox only; outside the sandbox, a host that is an internal address
// (private, loopback, link-local, unspecified, multicast, CGNAT,
// IPv4-mapped forms included), a numeric host in a non-standard form, or
// a name that does not resolve or resolves to an internal address, is
// refused. A refusal is a *store.FieldError of field "webhook" whose
// reason does not quote the URL. A public IP literal is accepted.
func (g *Gateway) checkWebhookURL(ctx context.Context, raw string) error {
	return checkWebhook(ctx, raw, g.webhookSandbox(), net.DefaultResolver)
}

// resolver is what checkWebhook looks names up with.
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

func checkWebhook(ctx context.Context, raw string, sandbox bool, res resolver) error {
	u, reason := webhookTarget(raw, sandbox)
	if reason != "" {
		return &store.FieldError{Field: "webhook", Reason: reason}
	}
	host := u.Hostname()
	if sandbox {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // a public literal: webhookTarget refused the others
	}
	ctx, cancel := context.WithTimeout(ctx, webhookResolveLimit)
	defer cancel()
	addrs, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return &store.FieldError{Field: "webhook", Reason: "its host name does not resolve"}
	}
	for _, a := range addrs {
		if internalAddr(a) {
			return &store.FieldError{Field: "webhook", Reason: "its host name resolves to an internal address " +
				"(private, loopback, link-local, CGNAT or the like): a webhook must reach a public server"}
		}
	}
	return nil
}

// webhookTarget parses a webhook URL and applies the policy that needs
// no name lookup; reason says what is wrong, without quoting the URL.
func webhookTarget(raw string, sandbox bool) (u *url.URL, reason string) {
	if err := store.ValidateWebhook(raw); err != nil {
		var fe *store.FieldError
		if errors.As(err, &fe) {
			return nil, fe.Reason
		}
		return nil, "is not a valid URL"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "is not a valid URL"
	}
	host := u.Hostname()
	if u.Scheme != "https" {
		// ValidateWebhook let it through: http:// to loopback.
		if !sandbox {
			return nil, "is http://: only the sandbox may post webhooks to http:// (on loopback); use https://"
		}
		return u, ""
	}
	if sandbox {
		return u, ""
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if internalAddr(a) {
			return nil, "its host is an internal address (private, loopback, link-local, CGNAT or the like): a webhook must reach a public server"
		}
		return u, ""
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "" {
		return nil, "has no host"
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return nil, "its host is localhost: a webhook must reach a public server"
	}
	// "2130706433", "127.1", "0x7f.1": addresses some resolvers accept,
	// never a real name (no top-level domain is numeric).
	last := h[strings.LastIndexByte(h, '.')+1:]
	if strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "" {
		return nil, "its host is a numeric address in a non-standard form"
	}
	return u, ""
}

// Address ranges a webhook must not reach outside the sandbox, besides
// those netip.Addr's predicates name (internalAddr).
var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT shared space (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated)
	netip.MustParsePrefix("100::/64"),       // discard
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
}

// Prefixes whose addresses embed an IPv4 address, which is judged.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: the last 4 bytes
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056: bytes 2 to 5
)

// internalAddr reports whether a is an address a webhook must not reach
// outside the sandbox: private, loopback, link-local, unspecified,
// multicast, CGNAT or another non-public range, also when written as an
// IPv4-mapped IPv6 address or embedded in NAT64 or 6to4.
func internalAddr(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range internalPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return internalAddr(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return internalAddr(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return false
}

// errInternalAddr is a dial the policy refused.
var errInternalAddr = errors.New("the address is internal (private, loopback, link-local, CGNAT or the like): refused outside the sandbox")

// webhookDispatcher posts the webhook outbox of one gateway.
type webhookDispatcher struct {
	g       *Gateway
	owner   string
	sandbox bool
	client  *http.Client
	timeout time.Duration // one attempt, from the config
	maxWait time.Duration // the longest pause between attempts
	lease   time.Duration
	// sigNow stamps signatures: the wall clock, which the receiver
	// checks t against (as the bank connector signs), not the gateway's
	// clock of due times.
	sigNow func() time.Time
	slots  chan struct{}
	wake   chan struct{}
	wg     sync.WaitGroup

	attempts *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newWebhookDispatcher(g *Gateway, sandbox bool) *webhookDispatcher {
	host, _ := os.Hostname()
	d := &webhookDispatcher{
		g:       g,
		owner:   fmt.Sprintf("webhooks/%s/%d/%x", host, os.Getpid(), rand.Uint32()),
		sandbox: sandbox,
		timeout: g.cfg.Webhooks.Timeout,
		maxWait: g.cfg.Webhooks.MaxBackoff,
		sigNow:  time.Now,
		slots:   make(chan struct{}, webhookConcurrent),
		wake:    make(chan struct{}, 1),
	}
	if d.timeout <= 0 {
		d.timeout = 10 * time.Second
	}
	if d.maxWait <= 0 {
		d.maxWait = time.Hour
	}
	// Longer than any attempt: a live post keeps its event.
	d.lease = d.timeout + 30*time.Second
	dialer := &net.Dialer{Timeout: d.timeout, KeepAlive: 30 * time.Second, Control: d.control}
	d.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // never the environment's: the dial check must see the real server
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   d.timeout,
			ResponseHeaderTimeout: d.timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
		},
		Timeout: d.timeout,
		// A redirect is an answer that is not 2xx: retried, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	d.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paygate_webhook_attempts_total",
		Help: "Webhook events by merchant and result: delivered (a 2xx), failed (to be tried again), undeliverable (ended unsent: no URL, no secret, URL refused).",
	}, []string{"merchant", "result"})
	d.seconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "paygate_webhook_post_seconds", Help: "Webhook post latency by result (delivered, failed).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"result"})
	if g.metrics != nil {
		g.metrics.reg.MustRegister(d.attempts, d.seconds,
			depthGauge("paygate_webhook_queue_depth", "Webhook events waiting for delivery.", g.db.WebhookQueueDepth))
	}
	return d
}

// control refuses, outside the sandbox, a connection to an internal
// address: it sees the address actually dialled, after name resolution.
func (d *webhookDispatcher) control(_, address string, _ syscall.RawConn) error {
	if d.sandbox {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil || internalAddr(ap.Addr()) {
		return errInternalAddr
	}
	return nil
}

func (d *webhookDispatcher) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run claims and posts until ctx ends, then waits for the posts under
// way (which ctx cancels: their events come back when the lease ends).
func (d *webhookDispatcher) run(ctx context.Context) {
	defer d.client.CloseIdleConnections()
	defer d.wg.Wait()
	t := time.NewTicker(webhookPoll)
	defer t.Stop()
	for {
		d.claim(ctx)
		select {
		case <-ctx.Done():
			return
		case <-d.g.db.WebhookSignal():
		case <-d.wake:
		case <-t.C:
		}
	}
}

func (d *webhookDispatcher) claim(ctx context.Context) {
	for ctx.Err() == nil {
		jobs, err := d.g.db.ClaimWebhooks(ctx, d.owner, d.lease, webhookBatch)
		if err != nil {
			if ctx.Err() == nil {
				d.g.log.Warn("webhooks: claiming", "err", err)
			}
			return
		}
		for _, j := range jobs {
			select {
			case d.slots <- struct{}{}:
			case <-ctx.Done():
				return // leased: posted when the lease ends
			}
			d.wg.Add(1)
			go func() {
				defer func() { <-d.slots; d.wg.Done() }()
				d.send(ctx, j)
			}()
		}
		if len(jobs) < webhookBatch {
			return
		}
	}
}

// send posts one event and records the outcome.
func (d *webhookDispatcher) send(ctx context.Context, j store.WebhookJob) {
	log := d.g.log.With("merchant", j.Merchant, "event", j.Event, "id", j.ID)
	raw, secret, err := d.g.db.MerchantWebhook(ctx, j.Merchant)
	var reason string
	switch {
	case errors.Is(err, flows.ErrNotFound):
		reason = "the merchant does not exist"
	case err != nil:
		if ctx.Err() == nil {
			log.Warn("webhooks: reading the merchant's webhook; the event comes back when its lease ends", "err", err)
		}
		return
	case raw == "":
		reason = "the merchant has no webhook URL"
	case len(secret) == 0:
		reason = "the merchant's webhook has no signing secret: set its webhook URL again (admin API) to make one"
	default:
		if _, why := webhookTarget(raw, d.sandbox); why != "" {
			reason = "the merchant's webhook URL " + why
		}
	}
	if reason != "" {
		if err := d.g.db.WebhookUndeliverable(ctx, j.ID, reason); err != nil {
			if ctx.Err() == nil {
				log.Warn("webhooks: ending an undeliverable event", "err", err)
			}
			return
		}
		d.attempts.WithLabelValues(j.Merchant, webhookUndeliverable).Inc()
		if raw == "" {
			log.Debug("webhooks: event not sent", "reason", reason)
		} else {
			log.Warn("webhooks: event not sent, and not tried again", "reason", reason)
		}
		return
	}

	start := time.Now()
	status, retryAfter, err := d.post(ctx, raw, secret, j)
	if ctx.Err() != nil {
		return // shutting down: whatever happened, the lease brings it back
	}
	elapsed := time.Since(start)
	if err == nil && status >= 200 && status < 300 {
		d.seconds.WithLabelValues(webhookDelivered).Observe(elapsed.Seconds())
		if err := d.g.db.WebhookDelivered(ctx, j.ID, status); err != nil {
			if ctx.Err() == nil {
				log.Warn("webhooks: recording a delivery; the event will be posted again", "err", err)
			}
			return
		}
		d.attempts.WithLabelValues(j.Merchant, webhookDelivered).Inc()
		return
	}
	d.seconds.WithLabelValues(webhookFailed).Observe(elapsed.Seconds())
	var errText string
	if err != nil {
		errText = redactURL(describePostError(err, d.timeout), raw)
	} else {
		errText = fmt.Sprintf("HTTP %d", status)
		if st := http.StatusText(status); st != "" {
			errText += " " + st
		}
	}
	wait := retryDelay(j.Attempts, d.maxWait)
	if retryAfter > wait {
		wait = min(retryAfter, d.maxWait)
	}
	next := d.g.now().Add(wait)
	if err := d.g.db.WebhookRetry(ctx, j.ID, next, status, errText); err != nil {
		if ctx.Err() == nil {
			log.Warn("webhooks: recording a failed attempt", "err", err)
		}
		return
	}
	d.attempts.WithLabelValues(j.Merchant, webhookFailed).Inc()
	log.Info("webhooks: not delivered; it will be posted again", "attempts", j.Attempts+1, "status", status, "err", errText, "next", next)
}

// post makes one attempt: it returns the answer's status and the pause
// its Retry-After asks for (0: none), or the error that left no answer.
func (d *webhookDispatcher) post(ctx context.Context, raw string, secret []byte, j store.WebhookJob) (status int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(j.Body))
	if err != nil {
		return 0, 0, errors.New("the request cannot be made")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set("Paygate-Signature", signWebhook(secret, d.sigNow().Unix(), j.Body))
	req.Header.Set("Paygate-Event-Id", j.ID)
	req.Header.Set("Paygate-Event-Type", j.Event)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, webhookMaxAnswer))
	resp.Body.Close()
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}

// signWebhook is the Paygate-Signature of body at unix time t (SPEC §7):
// "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func signWebhook(secret []byte, t int64, body []byte) string {
	ts := strconv.FormatInt(t, 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// describePostError says why a post got no answer, for operators: never
// the URL (*url.Error quotes it), which the caller redacts again anyway.
func describePostError(err error, timeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, errInternalAddr):
		return "not posted: " + errInternalAddr.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// redactURL removes raw, and its query, from text: an error of the
// network stack might quote them.
func redactURL(text, raw string) string {
	text = strings.ReplaceAll(text, raw, "<webhook URL>")
	if u, err := url.Parse(raw); err == nil {
		if u.RawQuery != "" {
			text = strings.ReplaceAll(text, u.RawQuery, "<query>")
		}
		if u.Path != "" && u.Path != "/" {
			text = strings.ReplaceAll(text, u.Path, "<path>")
		}
	}
	return text
}
