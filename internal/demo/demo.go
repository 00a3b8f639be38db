package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// Defaults of Options.
const (
	DefaultRuns     = 10_000
	DefaultDeadline = 2 * time.Second
	DefaultWorkers  = 8
)

// maxPasses bounds the reconciliation passes Run makes before giving up on
// one that covers every demo transaction.
const maxPasses = 5

// Options configure Run.
type Options struct {
	// Runs is how many runs to simulate. Default DefaultRuns.
	Runs int
	// Seed drives the fault assignment; the same seed injects the same
	// faults. Zero is a valid seed.
	Seed uint64
	// Deadline is every expectation's deadline. Default DefaultDeadline.
	// On-time acks are written with the declaration, so it only needs to
	// cover one transaction; the demo waits it out once.
	Deadline time.Duration
	// Grace is the reconciler's grace (RAC_GRACE): the wait for deadlines
	// covers it, so missing and late acks are past deadline plus grace.
	// Default 0.
	Grace time.Duration
	// Workers is how many goroutines write runs at once; the pool needs at
	// least that many connections. Default DefaultWorkers.
	Workers int
	// Reconciler reconciles the demo's runs. Required.
	Reconciler *reconciler.Reconciler
	// Progress receives progress lines for the long steps. Nil: none.
	Progress io.Writer
	// Logger receives the ledger's logs. Nil: discard.
	Logger *slog.Logger
}

// Result is what a demo did and found.
type Result struct {
	DemoID uuid.UUID
	Runs   []PlannedRun
	// StartedAt is the database time the demo started writing.
	StartedAt time.Time
	// Passes are the reconciliation passes run, in order.
	Passes []reconciler.Summary
	Check  Check
	// Write, Wait, Late and Reconcile time the steps; Total the whole demo.
	Write, Wait, Late, Reconcile, Total time.Duration
}

// sim is one demo in progress.
type sim struct {
	pool     *pgxpool.Pool
	ledger   *ledger.Ledger
	rec      *reconciler.Reconciler
	demoID   uuid.UUID
	deadline time.Duration
	grace    time.Duration
	workers  int
	progress io.Writer
}

// Run simulates opts.Runs runs against the migrated database behind pool,
// reconciles them and compares what the reconciler found with what was
// injected. An error means the demo could not run; a mismatch is reported
// in Result.Check, not as an error.
func Run(ctx context.Context, pool *pgxpool.Pool, opts Options) (res Result, err error) {
	started := time.Now()
	if opts.Reconciler == nil {
		return Result{}, errors.New("no reconciler")
	}
	if opts.Runs < 0 || opts.Deadline < 0 || opts.Grace < 0 || opts.Workers < 0 {
		return Result{}, fmt.Errorf("negative option in %+v", opts)
	}
	on := true // a demo writes whatever RAC_ENABLED says
	s := &sim{
		pool:     pool,
		ledger:   ledger.New(ledger.Options{Enabled: &on, Logger: opts.Logger, DeclaredBy: "rac demo"}),
		rec:      opts.Reconciler,
		demoID:   uuid.New(),
		deadline: cmp.Or(opts.Deadline, DefaultDeadline),
		grace:    opts.Grace,
		workers:  cmp.Or(opts.Workers, DefaultWorkers),
		progress: opts.Progress,
	}
	res = Result{DemoID: s.demoID, Runs: Plan(cmp.Or(opts.Runs, DefaultRuns), opts.Seed)}
	defer func() { res.Total = time.Since(started) }()

	if err := s.createSchema(ctx); err != nil {
		return res, err
	}
	if err := pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&res.StartedAt); err != nil {
		return res, fmt.Errorf("read database clock: %w", err)
	}

	step := time.Now()
	if err := s.forEach(ctx, "writing runs", res.Runs, s.writeRun); err != nil {
		return res, fmt.Errorf("write runs: %w", err)
	}
	res.Write = time.Since(step)

	step = time.Now()
	if err := s.waitDeadlines(ctx); err != nil {
		return res, fmt.Errorf("wait for deadlines: %w", err)
	}
	res.Wait = time.Since(step)

	step = time.Now()
	var late []PlannedRun
	for _, r := range res.Runs {
		if r.Fault == FaultLate {
			late = append(late, r)
		}
	}
	if err := s.forEach(ctx, "writing late acks", late, s.writeLateAck); err != nil {
		return res, fmt.Errorf("write late acks: %w", err)
	}
	res.Late = time.Since(step)

	step = time.Now()
	res.Passes, err = s.reconcile(ctx)
	res.Reconcile = time.Since(step)
	if err != nil {
		return res, fmt.Errorf("reconcile: %w", err)
	}

	if res.Check, err = s.check(ctx, res.Runs); err != nil {
		return res, fmt.Errorf("check findings: %w", err)
	}
	return res, nil
}

// reconcile waits until the horizon has passed every demo transaction and
// runs passes until one covers them all (a pass covers the transactions
// below the horizon it took when it started).
func (s *sim) reconcile(ctx context.Context) ([]reconciler.Summary, error) {
	last, err := s.maxTxID(ctx)
	if err != nil {
		return nil, err
	}
	var passes []reconciler.Summary
	for len(passes) < maxPasses {
		if err := s.waitHorizon(ctx, last); err != nil {
			return passes, err
		}
		n, started := len(passes)+1, time.Now()
		p := startProgress(s.progress, func() string {
			return fmt.Sprintf("reconciling: pass %d running for %v", n, time.Since(started).Round(time.Second))
		})
		sum, err := s.rec.RunOnce(ctx)
		p.done(fmt.Sprintf("reconciling: pass %d examined %d candidate runs in %v",
			n, sum.CandidateRuns, sum.Duration.Round(time.Millisecond)))
		if err != nil {
			return passes, fmt.Errorf("reconciliation pass: %w", err)
		}
		passes = append(passes, sum)
		if sum.HorizonTo > last {
			return passes, nil
		}
	}
	return passes, fmt.Errorf("%d reconciliation passes did not cover transaction %d", maxPasses, last)
}
