package gateway

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/store"
)

// metrics are the gateway's Prometheus collectors, on a registry of its
// own. No label ever carries a phone number, a text or a secret.
type metrics struct {
	reg *prometheus.Registry

	bindUp     *prometheus.GaugeVec
	pdus       *prometheus.CounterVec
	window     *prometheus.GaugeVec
	throttled  *prometheus.CounterVec
	submitTime *prometheus.HistogramVec
	inbound    *prometheus.CounterVec
	inboundDur *prometheus.HistogramVec
	mts        *prometheus.CounterVec

	bankCalls   *prometheus.CounterVec
	bankLatency *prometheus.HistogramVec
	bankBreaker prometheus.Gauge
	bankFinal   *prometheus.CounterVec
	bankJobs    *prometheus.CounterVec

	pinChecks  *prometheus.CounterVec
	pinSeconds prometheus.Histogram

	api    *prometheus.CounterVec
	pushes *prometheus.CounterVec
	// envelopes counts secure envelopes by result: accepted, a refusal
	// reason, report_missing.
	envelopes *prometheus.CounterVec
}

func newMetrics(db *store.DB) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		bindUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "paygate_smpp_bind_up", Help: "1 while the SMPP bind is up.",
		}, []string{"bind"}),
		pdus: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_smpp_pdus_total", Help: "SMPP PDUs read and written, by command and status.",
		}, []string{"bind", "dir", "command", "status"}),
		window: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "paygate_smpp_window_in_use", Help: "Submits awaiting their response.",
		}, []string{"bind"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_smpp_throttled_total", Help: "Submits refused with ESME_RTHROTTLED or ESME_RMSGQFUL.",
		}, []string{"bind", "status"}),
		submitTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paygate_smpp_submit_seconds", Help: "submit_sm latency, first write to final answer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"bind", "result"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_inbound_total", Help: "Inbound messages by kind and result.",
		}, []string{"bind", "kind", "result"}),
		inboundDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paygate_inbound_seconds", Help: "Time from deliver_sm read to the acknowledgement decided.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"kind"}),
		mts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygate_mt_total", Help: "MT outbox attempts by result (sent, retry, failed).",
		}, []string{"bind", "result"}),
	}
	m.bankCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paygate_bank_calls_total", Help: "Requests to the bank by method and outcome (SPEC §8).",
	}, []string{"method", "outcome"})
	m.bankLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "paygate_bank_call_seconds", Help: "Bank request latency by method.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, []string{"method"})
	m.bankBreaker = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "paygate_bank_breaker_state", Help: "The bank circuit breaker: 0 closed, 1 open, 2 half-open.",
	})
	m.bankFinal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paygate_bank_final_errors_total", Help: "Requests the bank refused with a final 4xx: operators look.",
	}, []string{"method", "status"})
	m.bankJobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paygate_bank_outbox_total", Help: "Bank outbox requests by kind and result (answered, failed, retry; unknown: a transfer's outcome is not known yet and it is asked again).",
	}, []string{"kind", "result"})
	m.pinChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paygate_pin_checks_total", Help: "PIN work done outside the writer: right, wrong, hashed (a new PIN), error, cancelled.",
	}, []string{"result"})
	m.pinSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "paygate_pin_check_seconds", Help: "PIN work latency, waiting for the pool included.",
		Buckets: prometheus.ExponentialBuckets(0.002, 2, 12),
	})
	m.api = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paygate_api_calls_total", Help: "Merchant and admin API answers by API and outcome (created, code_accepted, or an error code).",
	}, []string{"api", "outcome"})
	m.pushes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paygate_ussd_pushes_total", Help: "Network-initiated USSD prompts by result (sent, retry, failed, stale).",
	}, []string{"result"})
	m.envelopes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paygate_envelopes_total", Help: "Secure envelopes from security modules by result (SPEC §9).",
	}, []string{"result"})
	m.reg.MustRegister(m.api, m.pushes, m.envelopes)
	m.reg.MustRegister(m.bindUp, m.pdus, m.window, m.throttled, m.submitTime, m.inbound, m.inboundDur, m.mts,
		m.bankCalls, m.bankLatency, m.bankBreaker, m.bankFinal, m.bankJobs, m.pinChecks, m.pinSeconds)
	m.reg.MustRegister(
		depthGauge("paygate_mt_queue_depth", "MTs waiting in the outbox.", db.QueueDepth),
		depthGauge("paygate_bank_queue_depth", "Bank requests waiting for an answer.", db.BankQueueDepth),
		transferGauge{db: db},
	)
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "paygate_store_steps_total", Help: "Flow steps committed or refused by the store.",
	}, func() float64 { return float64(db.Stats().Steps) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "paygate_store_commits_total", Help: "Database commits (group commit makes them fewer than steps).",
	}, func() float64 { return float64(db.Stats().Commits) }))
	m.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// depthGauge is a gauge read from the store at each scrape: -1 when the
// store does not answer within a second.
func depthGauge(name, help string, depth func(context.Context) (int, error)) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := depth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
}

// transfersDesc describes paygate_transfers.
var transfersDesc = prometheus.NewDesc("paygate_transfers",
	"Transfers by state (SPEC §6); -1 when the store does not answer within a second.", []string{"state"}, nil)

// transferGauge is paygate_transfers{state}, read from the store at each
// scrape (one grouped count). Every state of SPEC §6 is reported, 0 when
// no transfer is in it, so the series do not come and go.
type transferGauge struct{ db *store.DB }

func (transferGauge) Describe(ch chan<- *prometheus.Desc) { ch <- transfersDesc }

func (g transferGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	counts, err := g.db.TransferCounts(ctx)
	for _, st := range flows.TransferStates() {
		v := float64(counts[st])
		if err != nil {
			v = -1
		}
		ch <- prometheus.MustNewConstMetric(transfersDesc, prometheus.GaugeValue, v, string(st))
	}
}

// bankHooks feed the bank connector's events into the collectors.
func (m *metrics) bankHooks() *bank.Hooks {
	return &bank.Hooks{
		Call: func(method string, o bank.Outcome, d time.Duration) {
			m.bankCalls.WithLabelValues(method, string(o)).Inc()
			m.bankLatency.WithLabelValues(method).Observe(d.Seconds())
		},
		Breaker:    func(_, to bank.BreakerState) { m.bankBreaker.Set(float64(to)) },
		FinalError: func(e *bank.FinalError) { m.bankFinal.WithLabelValues(e.Method, strconv.Itoa(e.Status)).Inc() },
	}
}

// hooks feed a bind's SMPP events into the collectors.
func (m *metrics) hooks() *smpp.Hooks {
	return &smpp.Hooks{
		PDU: func(bind string, dir smpp.Direction, cmd smpp.CommandID, st smpp.Status) {
			m.pdus.WithLabelValues(bind, dir.String(), cmd.String(), st.String()).Inc()
		},
		Bind: func(bind string, _ smpp.BindMode, up bool, _ error) {
			v := 0.0
			if up {
				v = 1
			}
			m.bindUp.WithLabelValues(bind).Set(v)
		},
		Window: func(bind string, inUse, _ int) { m.window.WithLabelValues(bind).Set(float64(inUse)) },
		Throttled: func(bind string, st smpp.Status, _ time.Duration) {
			m.throttled.WithLabelValues(bind, st.String()).Inc()
		},
		Submit: func(bind string, d time.Duration, err error) {
			result := "ok"
			if err != nil {
				result = "error"
			}
			m.submitTime.WithLabelValues(bind, result).Observe(d.Seconds())
		},
	}
}
