package seal

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/racledger/racledger/internal/promreg"
)

// metrics are the sealer's Prometheus series; they count what this process
// did.
type metrics struct {
	seals       *prometheus.CounterVec
	rows        prometheus.Counter
	duration    prometheus.Histogram
	lastSuccess prometheus.Gauge
	headID      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		seals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rac_seals_total",
			Help: "Sealing attempts by this process, by status: sealed, empty (nothing new was final) or error.",
		}, []string{"status"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rac_sealed_rows_total",
			Help: "Ledger rows covered by the seals this process appended.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rac_seal_duration_seconds",
			Help:    "Duration of sealing attempts.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rac_seal_last_success_timestamp_seconds",
			Help: "When a sealing attempt of this process last succeeded (sealed, or nothing new was final); alert when it grows old.",
		}),
		headID: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rac_seal_head_id",
			Help: "Id of the head of the seal chain after this process's last successful sealing attempt (0: no seal yet).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.seals, err = promreg.Register(reg, m.seals); err != nil {
		return nil, err
	}
	if m.rows, err = promreg.Register(reg, m.rows); err != nil {
		return nil, err
	}
	if m.duration, err = promreg.Register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.lastSuccess, err = promreg.Register(reg, m.lastSuccess); err != nil {
		return nil, err
	}
	if m.headID, err = promreg.Register(reg, m.headID); err != nil {
		return nil, err
	}
	return m, nil
}
