package reconciler

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/racledger/racledger/db"
	"github.com/racledger/racledger/internal/catalog"
	"github.com/racledger/racledger/internal/txutil"
	"github.com/racledger/racledger/ledger"
)

// DefaultBatchSize is how many candidate runs one transaction reconciles.
const DefaultBatchSize = 10_000

// candidatePage is how many candidate runs a pass reads at once; it bounds
// the reconciler's memory (about 30 bytes a run) whatever the backlog.
const candidatePage = 50_000

// ErrRunNotFound is returned by ReconcileRun for a run with no expectation
// and no ack in the reconciler's tenant.
var ErrRunNotFound = errors.New("rac: run not found")

// ErrInvalidOptions wraps every refusal of Options by New.
var ErrInvalidOptions = errors.New("rac: invalid reconciler options")

// ErrPartialView is returned when the reconciler's session does not see
// every ledger row: row-level security limits it to some tenants (a role
// pinned to tenants, or one that set rac.tenant without being an
// operator). Reconcile as the table owner, a superuser or a member of
// rac_reconciler.
var ErrPartialView = errors.New("rac: the reconciler's session does not see every ledger row (row-level security limits it to some tenants)")

var queries = db.New()

// Options configure a Reconciler. The zero value is ready to use.
type Options struct {
	// Registerer receives the reconciler's metrics. Nil: no metrics.
	Registerer prometheus.Registerer
	// Logger receives one line per pass and warnings. Nil: discard.
	Logger *slog.Logger
	// Grace is added to every deadline before an unacked expectation is
	// missing (RAC_GRACE in the rac command). Default 0.
	Grace time.Duration
	// BatchSize bounds the candidate runs reconciled by one transaction.
	// Default DefaultBatchSize.
	BatchSize int
	// Name identifies this reconciler in rac.reconciliations. Default
	// "hostname:pid".
	Name string
	// Tenant is the tenant ReconcileRun looks in. Default "default". Passes
	// always cover every tenant.
	Tenant string
	// BatchTimeout bounds one batch transaction. Default 5 minutes.
	BatchTimeout time.Duration
	// PassTimeout bounds one pass (RunOnce, and each pass of Run): when it
	// expires the batch in flight commits and the pass stops, to be taken
	// up again by the next pass from the previous finished one. Default 0:
	// no bound (a pass over a large backlog must be allowed to finish, or
	// every pass would start it again).
	PassTimeout time.Duration
}

// Reconciler finds what is missing, failed, late, drifted, stale or invalid
// in the ledger and records it. It is safe for concurrent use, and any
// number of reconcilers may run against one database.
type Reconciler struct {
	pool         *pgxpool.Pool
	logger       *slog.Logger
	grace        time.Duration
	batchSize    int
	name         string
	tenant       string
	batchTimeout time.Duration
	passTimeout  time.Duration
	pageSize     int
	metrics      *metrics
	catalog      *catalog.Cache
}

// New returns a Reconciler over pool. It refuses bad options with an error
// wrapping ErrInvalidOptions.
func New(pool *pgxpool.Pool, opts Options) (*Reconciler, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrInvalidOptions)
	}
	if opts.Grace < 0 {
		return nil, fmt.Errorf("%w: negative grace %v", ErrInvalidOptions, opts.Grace)
	}
	if opts.BatchSize < 0 {
		return nil, fmt.Errorf("%w: negative batch size %d", ErrInvalidOptions, opts.BatchSize)
	}
	if opts.BatchTimeout < 0 {
		return nil, fmt.Errorf("%w: negative batch timeout %v", ErrInvalidOptions, opts.BatchTimeout)
	}
	if opts.PassTimeout < 0 {
		return nil, fmt.Errorf("%w: negative pass timeout %v", ErrInvalidOptions, opts.PassTimeout)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("reconciler: register metrics: %w", err)
	}
	r := &Reconciler{
		pool:         pool,
		logger:       opts.Logger,
		grace:        opts.Grace.Truncate(time.Millisecond),
		batchSize:    cmp.Or(opts.BatchSize, DefaultBatchSize),
		name:         cmp.Or(opts.Name, defaultName()),
		tenant:       cmp.Or(opts.Tenant, ledger.DefaultTenant),
		batchTimeout: cmp.Or(opts.BatchTimeout, 5*time.Minute),
		passTimeout:  opts.PassTimeout,
		pageSize:     max(cmp.Or(opts.BatchSize, DefaultBatchSize), candidatePage),
		metrics:      m,
		catalog:      catalog.New(),
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

func defaultName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// passWindow is what a pass covers, read from the database.
type passWindow struct {
	horizonFrom, horizonTo   int64
	deadlineFrom, deadlineTo time.Time
	asOf                     time.Time
}

// RunOnce runs one pass: it reconciles every run touched by a transaction
// that finished since the previous pass and every run whose deadline
// (plus grace) fell since then, in batches of BatchSize runs, each batch in
// its own transaction. A pass that fails part-way leaves its finished
// batches recorded and the rest to the next pass, which starts again from
// the last finished pass. When ctx is done (or PassTimeout expires) the
// batch in flight commits and the pass stops before the next one, with an
// error wrapping ctx's.
func (r *Reconciler) RunOnce(ctx context.Context) (Summary, error) {
	start := time.Now()
	if r.passTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.passTimeout)
		defer cancel()
	}
	sum, err := r.runPass(ctx)
	sum.Duration = time.Since(start)
	r.metrics.duration.Observe(sum.Duration.Seconds())
	if err != nil {
		r.metrics.passes.WithLabelValues("error").Inc()
		level := slog.LevelError
		msg := "reconciler: pass failed"
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			level, msg = slog.LevelWarn, "reconciler: pass stopped"
		}
		r.logger.Log(ctx, level, msg, slog.String("pass_id", sum.PassID.String()),
			slog.Int("batches_done", sum.Batches), slog.Any("error", err))
		return sum, err
	}
	r.metrics.passes.WithLabelValues("ok").Inc()
	r.metrics.lastSuccess.SetToCurrentTime()
	r.logger.InfoContext(ctx, "reconciler: pass done",
		slog.String("pass_id", sum.PassID.String()),
		slog.Int("candidate_runs", sum.CandidateRuns),
		slog.Int("batches", sum.Batches),
		slog.Int("findings", sum.FindingsRecorded),
		slog.Int("resolutions", sum.ResolutionsRecorded),
		slog.Int("verdicts", sum.VerdictsRecorded),
		slog.Int("open", sum.Open()),
		slog.Duration("duration", sum.Duration))
	return sum, nil
}

func (r *Reconciler) runPass(ctx context.Context) (Summary, error) {
	sum := Summary{PassID: uuid.New(), FindingsByKind: map[string]int{}, ResolutionsByKind: map[string]int{},
		OpenFindings: map[string]int{}}
	finalizeID, err := r.finalizeActionID(ctx)
	if err != nil {
		return sum, err
	}
	ps, err := queries.PassStart(ctx, r.pool)
	if err != nil {
		return sum, fmt.Errorf("reconciler: start pass: %w", err)
	}
	if !ps.SeesWholeLedger {
		return sum, ErrPartialView
	}
	w := passWindow{
		horizonFrom:  ps.HorizonFrom,
		horizonTo:    max(ps.HorizonTo, ps.HorizonFrom),
		deadlineFrom: ps.DeadlineFrom,
		deadlineTo:   ps.AsOf.Add(-r.grace),
		asOf:         ps.AsOf,
	}
	if w.deadlineTo.Before(w.deadlineFrom) {
		w.deadlineTo = w.deadlineFrom // grace grew: nothing new has fallen
	}
	sum.HorizonFrom, sum.HorizonTo = w.horizonFrom, w.horizonTo
	sum.DeadlineFrom, sum.DeadlineTo, sum.AsOf = w.deadlineFrom, w.deadlineTo, w.asOf

	// Page through the runs to reconcile (memory is bounded by the page)
	// and record each page in batches, one transaction each. The last
	// batch of the pass is final: it certifies the pass's windows.
	started := time.Now()
	after := db.PassCandidatesRow{}
	for {
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("reconciler: pass stopped after %d batches: %w", sum.Batches, err)
		}
		pageStart := time.Now()
		page, err := r.candidates(ctx, db.PassCandidatesParams{
			HorizonFrom:  w.horizonFrom,
			HorizonTo:    w.horizonTo,
			DeadlineFrom: w.deadlineFrom,
			DeadlineTo:   w.deadlineTo,
			GraceMs:      r.grace.Milliseconds(),
			AfterRun:     after.RunID,
			AfterTenant:  after.TenantID,
			PageSize:     int32(r.pageSize),
		})
		if err != nil {
			return sum, err
		}
		r.logger.DebugContext(ctx, "reconciler: candidates read", slog.Int("runs", len(page)),
			slog.Duration("took", time.Since(pageStart)))
		lastPage := len(page) < r.pageSize
		for {
			n := min(len(page), r.batchSize)
			var batch []db.PassCandidatesRow
			batch, page = page[:n], page[n:]
			final := lastPage && len(page) == 0
			if n == 0 && !final {
				break // a full page ended exactly here: fetch the next one
			}
			if err := ctx.Err(); err != nil {
				return sum, fmt.Errorf("reconciler: pass stopped after %d batches: %w", sum.Batches, err)
			}
			params := r.batchParams(sum.PassID, w, finalizeID, batch)
			params.Batch, params.Final, params.StartedAt = int32(sum.Batches), final, started
			row, err := r.reconcileBatch(ctx, params)
			if err != nil {
				return sum, err
			}
			r.account(ctx, &sum, row)
			r.logger.DebugContext(ctx, "reconciler: batch recorded", slog.Int("batch", int(params.Batch)),
				slog.Int("runs", n), slog.Int("findings", int(row.FindingsRecorded)), slog.Duration("took", time.Since(started)))
			started = time.Now()
			if n > 0 {
				after = batch[n-1]
			}
			if len(page) == 0 {
				break
			}
		}
		if lastPage {
			break
		}
	}
	return sum, r.afterPass(ctx, &sum)
}

// candidates reads one page of the pass's candidate runs in a read-only
// transaction with the settings its plan needs, under the reconciler lock:
// a batch committing meanwhile could record a run this read would then
// miss (see doc.go, "Confluence").
func (r *Reconciler) candidates(ctx context.Context, p db.PassCandidatesParams) ([]db.PassCandidatesRow, error) {
	var page []db.PassCandidatesRow
	err := pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := queries.ReconcileLock(ctx, tx); err != nil {
			return err
		}
		if err := queries.CandidateSettings(ctx, tx); err != nil {
			return err
		}
		var err error
		page, err = queries.PassCandidates(ctx, tx, p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reconciler: find candidates: %w", err)
	}
	return page, nil
}

// batchParams builds a ReconcileBatch call for the given candidates.
func (r *Reconciler) batchParams(passID uuid.UUID, w passWindow, finalizeID int16, cands []db.PassCandidatesRow) db.ReconcileBatchParams {
	p := db.ReconcileBatchParams{
		TenantIds:        make([]int16, len(cands)),
		RunIds:           make([]uuid.UUID, len(cands)),
		AsOf:             w.asOf,
		GraceMs:          r.grace.Milliseconds(),
		FinalizeActionID: finalizeID,
		PassID:           passID,
		Scope:            "pass",
		HorizonFrom:      w.horizonFrom,
		HorizonTo:        w.horizonTo,
		DeadlineFrom:     w.deadlineFrom,
		DeadlineTo:       w.deadlineTo,
		Reconciler:       r.name,
	}
	for i, c := range cands {
		p.TenantIds[i], p.RunIds[i] = c.TenantID, c.RunID
		if i == 0 || bytes.Compare(c.RunID[:], p.FirstRun[:]) < 0 {
			p.FirstRun = c.RunID
		}
		if i == 0 || bytes.Compare(c.RunID[:], p.LastRun[:]) > 0 {
			p.LastRun = c.RunID
		}
	}
	return p
}

// reconcileBatch runs one batch statement under the reconciler lock (see
// inTx). The batch commits even when ctx is cancelled meanwhile, so
// shutdown never wastes a finished batch.
func (r *Reconciler) reconcileBatch(ctx context.Context, p db.ReconcileBatchParams) (db.ReconcileBatchRow, error) {
	var row db.ReconcileBatchRow
	err := r.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := queries.BatchSettings(ctx, tx); err != nil {
			return err
		}
		var err error
		row, err = queries.ReconcileBatch(ctx, tx, p)
		return err
	})
	if err != nil {
		return row, fmt.Errorf("reconciler: batch %d of pass %s: %w", p.Batch, p.PassID, err)
	}
	return row, nil
}

// inTx runs fn in a READ COMMITTED transaction that first takes the
// reconciler lock, under the batch timeout, and commits; it retries
// serialization failures and deadlocks. Every statement of fn sees every
// batch committed before the lock was granted, so judgments are recorded in
// the order of the evidence they saw. Waiting for the lock ends with ctx;
// once granted, fn and the commit run to completion whatever ctx does.
func (r *Reconciler) inTx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	const attempts = 10
	for attempt := 1; ; attempt++ {
		err := r.inTxOnce(ctx, fn)
		if err == nil || !retryable(err) || attempt == attempts {
			return err
		}
		r.metrics.serialRetries.Inc()
		r.logger.DebugContext(ctx, "reconciler: retrying batch", slog.Int("attempt", attempt), slog.Any("error", err))
		backoff := time.Duration(rand.Int64N(int64(10*time.Millisecond) << min(attempt, 6)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

func (r *Reconciler) inTxOnce(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	lockCtx, cancelLock := context.WithTimeout(ctx, r.batchTimeout)
	defer cancelLock()
	txCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.batchTimeout)
	defer cancel()
	tx, err := r.pool.BeginTx(lockCtx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = txutil.Rollback(ctx, tx) }() // no-op after the commit
	if err := queries.ReconcileLock(lockCtx, tx); err != nil {
		return fmt.Errorf("wait for the reconciler lock: %w", err)
	}
	if err := fn(txCtx, tx); err != nil {
		return err
	}
	if err := tx.Commit(txCtx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// retryable reports a serialization failure or deadlock.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// account adds one batch's outcome to the summary and the metrics.
func (r *Reconciler) account(ctx context.Context, sum *Summary, row db.ReconcileBatchRow) {
	sum.Batches++
	sum.CandidateRuns += int(row.CandidateRuns)
	sum.FindingsRecorded += int(row.FindingsRecorded)
	sum.ResolutionsRecorded += int(row.ResolutionsRecorded)
	sum.VerdictsRecorded += int(row.VerdictsRecorded)
	for _, res := range row.ResolutionKinds {
		sum.ResolutionsByKind[res]++
	}
	r.metrics.candidates.Add(float64(row.CandidateRuns))
	for i, kind := range row.FindingKinds {
		sum.FindingsByKind[kind]++
		r.metrics.findings.WithLabelValues(kind).Inc()
		ref := r.actionRef(ctx, row.FindingActionIds[i])
		switch kind {
		case KindMissing:
			r.metrics.missing.WithLabelValues(string(ref.Domain), string(ref.Action)).Inc()
		case KindDrift:
			r.metrics.drift.WithLabelValues(string(ref.Domain), string(ref.Action)).Inc()
		case KindStale:
			r.metrics.stale.Inc()
		}
	}
}

// afterPass reads the open findings and the horizon holder for the
// summary, the gauges and the operator's log. Callers decide exit codes
// from the open findings, so failing to count them fails the pass; the
// horizon holder is only logged (pg_stat_activity may be restricted).
func (r *Reconciler) afterPass(ctx context.Context, sum *Summary) error {
	open, err := queries.OpenFindingsByKind(ctx, r.pool)
	if err != nil {
		return fmt.Errorf("reconciler: count open findings: %w", err)
	}
	r.metrics.resetOpen()
	for _, o := range open {
		sum.OpenFindings[o.Kind] = int(o.Findings)
		r.metrics.open.WithLabelValues(o.Kind).Set(float64(o.Findings))
	}
	holders, err := queries.HorizonHolder(ctx, r.pool)
	if err != nil {
		r.logger.WarnContext(ctx, "reconciler: read horizon holder", slog.Any("error", err))
		return nil
	}
	r.metrics.lag.Set(0)
	if len(holders) == 0 {
		return nil
	}
	h := holders[0]
	sum.HorizonLag = time.Duration(h.AgeSeconds * float64(time.Second))
	r.metrics.lag.Set(h.AgeSeconds)
	if sum.HorizonLag > time.Minute {
		pid := int32(0)
		if h.Pid != nil {
			pid = *h.Pid
		}
		r.logger.WarnContext(ctx, "reconciler: horizon held back by an old transaction; rows written after it wait for it to end",
			slog.Int("pid", int(pid)), slog.String("state", h.State), slog.String("application_name", h.ApplicationName),
			slog.Duration("age", sum.HorizonLag.Truncate(time.Second)))
	}
	return nil
}

// Run runs a pass at once and then every interval until ctx is done, each
// under PassTimeout. A failed pass is logged and retried at the next tick.
// On shutdown the batch in flight commits, the pass stops before its next
// batch and Run returns nil.
func (r *Reconciler) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("%w: interval %v must be positive", ErrInvalidOptions, every)
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		_, _ = r.RunOnce(ctx) // logged and counted by RunOnce
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// finalizeActionID returns the catalog id of orchestrator/finalize_run, the
// action whose absence makes a run stale.
func (r *Reconciler) finalizeActionID(ctx context.Context) (int16, error) {
	want := catalog.Key{Domain: string(ledger.Orchestrator), Action: string(ledger.FinalizeRun)}
	id, ok, err := r.catalog.ActionID(ctx, r.pool, want)
	if err != nil {
		return 0, fmt.Errorf("reconciler: %w", err)
	}
	if !ok {
		return 0, fmt.Errorf("reconciler: %s missing from rac.contract_actions (is the schema migrated?)", want)
	}
	return id, nil
}

// actionRef names a catalog id through the shared catalog cache, which
// reloads (on ctx) only for an id it has not seen; an id it cannot name
// (the reload failed) is named "unknown/id_N".
func (r *Reconciler) actionRef(ctx context.Context, id int16) Ref {
	k, ok, err := r.catalog.Action(ctx, r.pool, id)
	if err != nil {
		r.logger.WarnContext(ctx, "reconciler: name a catalog action", slog.Int("action_id", int(id)), slog.Any("error", err))
	}
	if !ok {
		return Ref{Domain: "unknown", Action: ledger.Action(fmt.Sprintf("id_%d", id))}
	}
	return Ref{ledger.Domain(k.Domain), ledger.Action(k.Action)}
}
