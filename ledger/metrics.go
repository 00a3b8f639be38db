package ledger

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
	m.expectations, err = register(reg, m.expectations)
	if err != nil {
		return m, err
	}
	m.acks, err = register(reg, m.acks)
	return m, err
}

// register registers c on reg; when an identical collector is already
// registered (two Ledgers sharing one registry) it returns that one, so
// both count into the same series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

func outcome(failed bool) string {
	if failed {
		return "failure"
	}
	return "success"
}
