package seal

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/racledger/racledger/internal/promreg"
)

// Results of a scheduled verification, the result label of
// rac_verify_total.
const (
	ResultIntact   = "intact"   // the chain verified; rows after the last seal may be unsealed
	ResultTampered = "tampered" // Verify found a Tamper
	ResultUnsealed = "unsealed" // no seal, but the ledger holds rows: nothing vouches for them
	ResultError    = "error"    // the verification could not be done
)

// VerifierOptions configure a Verifier.
type VerifierOptions struct {
	// Registerer receives the verifier's metrics. Nil: no metrics.
	Registerer prometheus.Registerer
	// Logger receives one line per verification. Nil: discard.
	Logger *slog.Logger
	// Timeout bounds one verification in Run. Default 1 hour.
	Timeout time.Duration
	// Progress, when set, is called as each verification reads the rows;
	// see [Progress].
	Progress func(Progress)
}

// Verifier re-verifies the whole chain on a schedule and exports the
// outcome of the last verification as metrics.
type Verifier struct {
	pool     *pgxpool.Pool
	logger   *slog.Logger
	timeout  time.Duration
	metrics  *verifyMetrics
	progress func(Progress)
}

type verifyMetrics struct {
	total     *prometheus.CounterVec
	last      prometheus.Gauge
	intact    prometheus.Gauge
	unsealed  prometheus.Gauge
	durations prometheus.Histogram
}

// NewVerifier returns a Verifier over pool. Its metrics exist, at zero,
// from the first scrape: rac_verify_last_intact is 0 until a verification
// finds the ledger intact.
func NewVerifier(pool *pgxpool.Pool, opts VerifierOptions) (*Verifier, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrInvalidOptions)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative timeout %v", ErrInvalidOptions, opts.Timeout)
	}
	m := &verifyMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rac_verify_total",
			Help: "Scheduled verifications of the seal chain by this process, by result: intact, tampered, unsealed (no seal over a ledger with rows) or error.",
		}, []string{"result"}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rac_verify_last_timestamp_seconds",
			Help: "When this process's last scheduled verification finished, whatever its result (0: none yet).",
		}),
		intact: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rac_verify_last_intact",
			Help: "1 when this process's last scheduled verification found the chain intact, 0 otherwise (tampered, unsealed, error, or none yet).",
		}),
		unsealed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rac_verify_unsealed_rows",
			Help: "Ledger rows no seal covered at the last successful verification.",
		}),
		durations: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rac_verify_duration_seconds",
			Help:    "Duration of scheduled verifications.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 12),
		}),
	}
	if reg := opts.Registerer; reg != nil {
		var err error
		if m.total, err = promreg.Register(reg, m.total); err != nil {
			return nil, fmt.Errorf("seal: register metrics: %w", err)
		}
		if m.last, err = promreg.Register(reg, m.last); err != nil {
			return nil, fmt.Errorf("seal: register metrics: %w", err)
		}
		if m.intact, err = promreg.Register(reg, m.intact); err != nil {
			return nil, fmt.Errorf("seal: register metrics: %w", err)
		}
		if m.unsealed, err = promreg.Register(reg, m.unsealed); err != nil {
			return nil, fmt.Errorf("seal: register metrics: %w", err)
		}
		if m.durations, err = promreg.Register(reg, m.durations); err != nil {
			return nil, fmt.Errorf("seal: register metrics: %w", err)
		}
	}
	// Every result's series exists from the first scrape.
	for _, r := range []string{ResultIntact, ResultTampered, ResultUnsealed, ResultError} {
		m.total.WithLabelValues(r)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = time.Hour
	}
	return &Verifier{pool: pool, logger: logger, timeout: timeout, metrics: m, progress: opts.Progress}, nil
}

// Verify verifies the whole chain once, records the result in the metrics
// and logs it, and returns the result (one of the Result constants) with
// the report (nil on error).
func (v *Verifier) Verify(ctx context.Context) (string, *Report, error) {
	start := time.Now()
	rep, err := Verify(ctx, v.pool, VerifyOptions{Progress: v.progress})
	v.metrics.durations.Observe(time.Since(start).Seconds())
	result := ResultIntact
	switch {
	case err != nil:
		result = ResultError
		v.logger.ErrorContext(ctx, "verify: failed", slog.Any("error", err))
	case rep.Tamper != nil:
		result = ResultTampered
		v.logger.ErrorContext(ctx, "verify: TAMPERED", slog.String("tamper", rep.Tamper.String()))
	case !rep.Intact():
		result = ResultUnsealed
		v.logger.ErrorContext(ctx, "verify: no seal covers the ledger's rows", slog.String("unsealed", rep.UnsealedString()))
	default:
		v.logger.InfoContext(ctx, "verify: intact", slog.Int("seals", rep.Seals), slog.Int64("rows", rep.Rows),
			slog.Int64("unsealed_rows", rep.UnsealedRows()), slog.Duration("duration", time.Since(start)))
	}
	v.metrics.total.WithLabelValues(result).Inc()
	v.metrics.last.SetToCurrentTime()
	if result == ResultIntact {
		v.metrics.intact.Set(1)
	} else {
		v.metrics.intact.Set(0)
	}
	if rep != nil && rep.Tamper == nil {
		v.metrics.unsealed.Set(float64(rep.UnsealedRows()))
	}
	return result, rep, err
}

// Run verifies at once and then every interval until ctx is done, each
// verification under the Verifier's timeout. Results are logged and
// counted, never fatal.
func (v *Verifier) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("%w: interval %v must be positive", ErrInvalidOptions, every)
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		vctx, cancel := context.WithTimeout(ctx, v.timeout)
		_, _, _ = v.Verify(vctx) // logged and counted by Verify
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}
