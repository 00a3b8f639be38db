package ledger

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/racledger/racledger/internal/promreg"
)

// metrics are the write-path counters. They count rows this process wrote
// in statements that succeeded; a caller's transaction that later rolls
// back is still counted, because the library never sees the commit.
type metrics struct {
	expectations prometheus.Counter
	acks         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		expectations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rac_expectations_written_total",
			Help: "Expectations written by this process (repeats of an identical declaration are not counted).",
		}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rac_acks_written_total",
			Help: "Acks written by this process, by domain, action and outcome (success or failure); idempotent repeats are not counted.",
		}, []string{"domain", "action", "outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.expectations, err = promreg.Register(reg, m.expectations)
	if err != nil {
		return m, err
	}
	m.acks, err = promreg.Register(reg, m.acks)
	if err != nil {
		return m, err
	}
	// Every standard (domain, action, outcome) exists from the start, at
	// zero, so increase() alerts see the first ack.
	for _, e := range StandardRun(time.Second) {
		for _, o := range []string{outcome(false), outcome(true)} {
			m.acks.WithLabelValues(string(e.Domain), string(e.Action), o)
		}
	}
	return m, nil
}

func outcome(failed bool) string {
	if failed {
		return "failure"
	}
	return "success"
}
