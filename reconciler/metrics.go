package reconciler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/racledger/racledger/internal/promreg"
	"github.com/racledger/racledger/ledger"
)

// metrics are the reconciler's Prometheus series. Counters count what this
// process recorded (rows its statements inserted), so replicas never count
// the same finding twice.
type metrics struct {
	passes        *prometheus.CounterVec
	missing       *prometheus.CounterVec
	drift         *prometheus.CounterVec
	stale         prometheus.Counter
	findings      *prometheus.CounterVec
	duration      prometheus.Histogram
	candidates    prometheus.Counter
	lag           prometheus.Gauge
	open          *prometheus.GaugeVec
	lastSuccess   prometheus.Gauge
	serialRetries prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rac_reconciliation_total",
			Help: "Reconciliation passes run by this process, by status (ok or error).",
		}, []string{"status"}),
		missing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rac_missing_actions_total",
			Help: "Missing findings recorded by this process, by domain and action.",
		}, []string{"domain", "action"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rac_drift_actions_total",
			Help: "Drift findings (acked but never expected) recorded by this process, by domain and action.",
		}, []string{"domain", "action"}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rac_stale_runs_total",
			Help: "Stale runs (orchestrator/finalize_run missing) recorded by this process.",
		}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rac_findings_recorded_total",
			Help: "Findings recorded by this process, by kind.",
		}, []string{"kind"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rac_reconciliation_duration_seconds",
			Help:    "Duration of reconciliation passes.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}),
		candidates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rac_reconciliation_candidate_runs_total",
			Help: "Candidate runs examined by this process's passes.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rac_reconciler_horizon_lag_seconds",
			Help: "Age of the oldest open transaction holding the reconciliation horizon back; rows written after it wait for it to end (deadline-driven findings do not).",
		}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rac_open_findings",
			Help: "Open findings by kind after this process's last pass: ledger-wide, so every replica reports the same figure (aggregate with max, not sum).",
		}, []string{"kind"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rac_reconciliation_last_success_timestamp_seconds",
			Help: "Unix time of the last pass that finished without error.",
		}),
		serialRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rac_reconciliation_batch_retries_total",
			Help: "Batches retried after a serialization failure (another reconciler recorded the same thing first).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.passes, err = promreg.Register(reg, m.passes); err != nil {
		return nil, err
	}
	if m.missing, err = promreg.Register(reg, m.missing); err != nil {
		return nil, err
	}
	if m.drift, err = promreg.Register(reg, m.drift); err != nil {
		return nil, err
	}
	if m.stale, err = promreg.Register(reg, m.stale); err != nil {
		return nil, err
	}
	if m.findings, err = promreg.Register(reg, m.findings); err != nil {
		return nil, err
	}
	if m.duration, err = promreg.Register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.candidates, err = promreg.Register(reg, m.candidates); err != nil {
		return nil, err
	}
	if m.lag, err = promreg.Register(reg, m.lag); err != nil {
		return nil, err
	}
	if m.open, err = promreg.Register(reg, m.open); err != nil {
		return nil, err
	}
	if m.lastSuccess, err = promreg.Register(reg, m.lastSuccess); err != nil {
		return nil, err
	}
	if m.serialRetries, err = promreg.Register(reg, m.serialRetries); err != nil {
		return nil, err
	}
	m.initLabels()
	return m, nil
}

// findingKinds are every kind a finding may have; openKinds those that
// can be open.
var (
	findingKinds = []string{KindMissing, KindFailed, KindLate, KindDrift, KindInvalid, KindStale}
	openKinds    = []string{KindMissing, KindFailed, KindDrift, KindInvalid, KindStale}
)

// initLabels creates every known label set at zero, so that a series
// exists from the start and increase() or rate() alerts see the first
// event: both pass statuses, every finding kind, every open kind and the
// standard catalog's (domain, action) pairs for missing and drift (actions
// users add to the catalog appear with their first finding).
func (m *metrics) initLabels() {
	for _, s := range []string{"ok", "error"} {
		m.passes.WithLabelValues(s)
	}
	for _, k := range findingKinds {
		m.findings.WithLabelValues(k)
	}
	m.resetOpen()
	for _, e := range ledger.StandardRun(time.Second) {
		m.missing.WithLabelValues(string(e.Domain), string(e.Action))
		m.drift.WithLabelValues(string(e.Domain), string(e.Action))
	}
}

// resetOpen sets rac_open_findings to zero for every open kind (and drops
// any other kind), ready for a pass's counts: a kind with nothing open
// reads 0, never disappears.
func (m *metrics) resetOpen() {
	m.open.Reset()
	for _, k := range openKinds {
		m.open.WithLabelValues(k).Set(0)
	}
}
