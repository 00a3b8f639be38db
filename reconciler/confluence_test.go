package reconciler_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// The deterministic tests of this file are the cases where a verdict used
// to depend on when passes ran (a transaction committing after a pass
// judged without it). Each ends in the state one pass over the same rows
// gives, and closes what an earlier pass recorded with the rule that fits.

// begin opens a domain transaction holding its xid (ledgertest.BeginDomainTx).
func begin(t *testing.T, b bundle) pgx.Tx {
	t.Helper()
	return ledgertest.BeginDomainTx(t, b.pool)
}

// passNow runs a pass without waiting for anything to become final: what
// an open transaction wrote is not final and is not seen.
func passNow(t *testing.T, b bundle) reconciler.Summary {
	t.Helper()
	sum, err := b.rec.RunOnce(b.ctx)
	require.NoError(t, err)
	return sum
}

// resolution is one closed finding of a run, as findings_history shows it.
type resolution struct {
	kind, resolution, evidenceTable string
	violatedAt, detectedAt          time.Time
	resolvedAt, recordedAt          time.Time
	evidenceAt                      time.Time
}

func resolutions(t *testing.T, b bundle, run uuid.UUID) []resolution {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `
		SELECT kind, resolution, coalesce(evidence_table, ''), violated_at, detected_at, resolved_at,
		       resolution_recorded_at, coalesce(evidence_at, 'epoch')
		FROM rac.findings_history WHERE run_id = $1 AND resolution IS NOT NULL ORDER BY kind`, run)
	require.NoError(t, err)
	var out []resolution
	for rows.Next() {
		var r resolution
		require.NoError(t, rows.Scan(&r.kind, &r.resolution, &r.evidenceTable, &r.violatedAt, &r.detectedAt,
			&r.resolvedAt, &r.recordedAt, &r.evidenceAt))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// requireOrdered checks what every resolution promises a reader: it was
// recorded after its finding was detected, and it does not end the
// violation before it began.
func requireOrdered(t *testing.T, rs []resolution) {
	t.Helper()
	for _, r := range rs {
		require.False(t, r.recordedAt.Before(r.detectedAt), "%s: recorded %v before detected %v", r.kind, r.recordedAt, r.detectedAt)
		require.False(t, r.resolvedAt.Before(r.violatedAt), "%s: resolved %v before violated %v", r.kind, r.resolvedAt, r.violatedAt)
	}
}

func kindsOf(rs []resolution) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.kind + ":" + r.resolution
	}
	return out
}

// An ack written on time inside a domain transaction that committed after
// a pass recorded the action missing: the missing (and stale) findings
// are retracted, and the run ends clean.
func TestOnTimeAckCommittedAfterMissingIsRetracted(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		action ledger.Action
		domain ledger.Domain
		kinds  []string
	}{
		{"missing", ledger.CreateIncident, ledger.Incidents, []string{"missing:retracted"}},
		{"stale", ledger.FinalizeRun, ledger.Orchestrator, []string{"missing:retracted", "stale:retracted"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			run := uuid.New()
			domain := begin(t, b) // its xid is below the declaration's
			declareRun(t, b, run, 2*hour, hour)
			ackAllAgo(t, b, run, 90*time.Minute, c.action)
			ledgertest.Ack(t, domain, run, c.domain, c.action, "", ledgertest.Now(t, b.pool).Add(-90*time.Minute))

			// The domain transaction holds the horizon: the deadline arm
			// finds the action missing.
			passNow(t, b)
			require.Contains(t, openFindings(t, b, run), string(c.domain)+"/"+string(c.action)+":missing")
			require.Equal(t, "violated", verdict(t, b, run))

			require.NoError(t, domain.Commit(b.ctx))
			sum := pass(t, b)
			require.Equal(t, len(c.kinds), sum.ResolutionsByKind["retracted"])
			require.Empty(t, openFindings(t, b, run))
			require.Equal(t, "clean", verdict(t, b, run))
			rs := resolutions(t, b, run)
			require.Equal(t, c.kinds, kindsOf(rs))
			requireOrdered(t, rs)
			for _, r := range rs {
				require.Equal(t, "acks", r.evidenceTable)
				require.Equal(t, r.violatedAt, r.resolvedAt, "a retracted finding never held")
				require.True(t, r.evidenceAt.Before(r.violatedAt))
			}
			require.Zero(t, pass(t, b).CandidateRuns, "nothing left to judge")
		})
	}
}

// The same through the library with a real deadline, while an unrelated
// session sits idle in a transaction as the ack commits.
func TestOnTimeAckCommittedLateWithIdleSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := uuid.New()
	idle := begin(t, b) // holds the horizon below everything that follows
	require.NoError(t, b.l.Expect(b.ctx, b.pool, run, ledger.Expectation{
		Domain: ledger.Incidents, Action: ledger.CreateIncident, Deadline: 300 * time.Millisecond}))
	domain := begin(t, b)
	require.NoError(t, b.l.Ack(b.ctx, domain, ledger.Ack{RunID: run, Domain: ledger.Incidents,
		Action: ledger.CreateIncident, ResultID: "inc-1"}))
	waitPastDeadlines(t, b)

	passNow(t, b)
	require.Equal(t, []string{"incidents/create_incident:missing"}, openFindings(t, b, run))
	require.NoError(t, domain.Commit(b.ctx))
	passNow(t, b)
	require.Equal(t, "violated", verdict(t, b, run), "nothing is final while the idle session is open")
	require.NoError(t, idle.Rollback(b.ctx))

	pass(t, b)
	require.Empty(t, openFindings(t, b, run))
	require.Equal(t, "clean", verdict(t, b, run))
	require.Equal(t, []string{"missing:retracted"}, kindsOf(resolutions(t, b, run)))
}

// waitFinal polls until transaction xid is below the horizon: its rows
// are final. (The horizon is cluster-wide: other tests' transactions hold
// it back for a while.)
func waitFinal(t *testing.T, b bundle, xid int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		var final bool
		require.NoError(t, b.pool.QueryRow(b.ctx,
			`SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint > $1`, xid).Scan(&final))
		return final
	}, 30*time.Second, 5*time.Millisecond)
}

// waitPastDeadlines polls the database clock until every deadline of the
// ledger has passed.
func waitPastDeadlines(t *testing.T, b bundle) {
	t.Helper()
	require.Eventually(t, func() bool {
		var passed bool
		require.NoError(t, b.pool.QueryRow(b.ctx,
			`SELECT coalesce(max(deadline_at), '-infinity') < clock_timestamp() FROM rac.expectations`).Scan(&passed))
		return passed
	}, 30*time.Second, 10*time.Millisecond)
}

// A success ack written after the deadline, committed after the pass that
// recorded the action missing: resolved (acked) at the ack's time, and late.
func TestLateAckCommittedAfterMissingResolves(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := uuid.New()
	domain := begin(t, b)
	declareRun(t, b, run, 2*hour, hour)
	ackAllAgo(t, b, run, 90*time.Minute, ledger.CreateIncident)
	ledgertest.Ack(t, domain, run, ledger.Incidents, ledger.CreateIncident, "", ledgertest.Now(t, b.pool).Add(-30*time.Minute))
	passNow(t, b)
	require.NoError(t, domain.Commit(b.ctx))
	pass(t, b)

	require.Empty(t, openFindings(t, b, run))
	require.Equal(t, []string{"incidents/create_incident:late", "incidents/create_incident:missing"}, findings(t, b, run))
	rs := resolutions(t, b, run)
	require.Equal(t, []string{"missing:acked"}, kindsOf(rs))
	requireOrdered(t, rs)
	require.Equal(t, rs[0].evidenceAt, rs[0].resolvedAt, "resolved when the late ack was written")
	require.Equal(t, "clean", verdict(t, b, run))
}

// An error ack committed after a pass recorded the action missing: the
// missing finding is closed and failed recorded, never both open. Written
// by the deadline, the missing never held (retracted); written after it,
// the failure superseded it.
func TestErrorAckCommittedAfterMissing(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name       string
		ago        time.Duration
		resolution string
	}{
		{"written on time", 90 * time.Minute, "retracted"},
		{"written after the deadline", 30 * time.Minute, "superseded"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			run := uuid.New()
			domain := begin(t, b)
			declareRun(t, b, run, 2*hour, hour)
			ackAllAgo(t, b, run, 90*time.Minute, ledger.EvaluatePolicy)
			ledgertest.Ack(t, domain, run, ledger.Policies, ledger.EvaluatePolicy, "engine down",
				ledgertest.Now(t, b.pool).Add(-c.ago))
			passNow(t, b)
			require.Equal(t, []string{"policies/evaluate_policy:missing"}, openFindings(t, b, run))
			require.NoError(t, domain.Commit(b.ctx))
			pass(t, b)

			require.Equal(t, []string{"policies/evaluate_policy:failed"}, openFindings(t, b, run))
			rs := resolutions(t, b, run)
			require.Equal(t, []string{"missing:" + c.resolution}, kindsOf(rs))
			requireOrdered(t, rs)
			require.Equal(t, "violated", verdict(t, b, run))

			// A success after the failure resolves the failure too.
			ack(t, b, run, ledger.Policies, ledger.EvaluatePolicy, "")
			pass(t, b)
			require.Empty(t, openFindings(t, b, run))
			require.Equal(t, "clean", verdict(t, b, run))
			rs = resolutions(t, b, run)
			require.Equal(t, []string{"failed:acked", "missing:" + c.resolution}, kindsOf(rs))
			requireOrdered(t, rs)
		})
	}
}

// An ack committed before its expectation, with a pass in between, is
// drift until the expectation commits; then the drift is closed whichever
// of the two was written first, and the run is judged on its own rows.
func TestDriftClosedWhenItsExpectationCommits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name       string
		ackFirst   bool
		resolution string
	}{
		{"declared before the ack was written", false, "retracted"},
		{"ack written before the declaration", true, "declared"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			run := uuid.New()
			now := ledgertest.Now(t, b.pool)
			acking := begin(t, b)    // takes its xid first,
			declaring := begin(t, b) // so its acks are final while this is open
			declaredAt, ackedAt := now.Add(-100*time.Minute), now.Add(-90*time.Minute)
			if c.ackFirst {
				declaredAt, ackedAt = ackedAt, declaredAt
			}
			ledgertest.DeclareRun(t, declaring, ledger.DefaultTenant, run, declaredAt, hour)
			ledgertest.AckRun(t, acking, run, ackedAt)
			var ackXID int64
			require.NoError(t, acking.QueryRow(b.ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&ackXID))
			require.NoError(t, acking.Commit(b.ctx))
			waitFinal(t, b, ackXID)

			passNow(t, b)
			require.Len(t, openFindings(t, b, run), 5)
			require.Contains(t, openFindings(t, b, run), "incidents/create_incident:drift")

			require.NoError(t, declaring.Commit(b.ctx))
			pass(t, b)
			require.Empty(t, openFindings(t, b, run))
			require.Equal(t, "clean", verdict(t, b, run))
			rs := resolutions(t, b, run)
			require.Len(t, rs, 5)
			requireOrdered(t, rs)
			for _, r := range rs {
				require.Equal(t, "drift", r.kind)
				require.Equal(t, c.resolution, r.resolution)
				require.Equal(t, "expectations", r.evidenceTable)
				require.Equal(t, declaredAt, r.evidenceAt)
			}
		})
	}
}

// rac.run_status keeps listing a run it listed clean while a harmless
// later ack of that run is not final yet.
func TestRunStatusNeverDropsARun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := uuid.New()
	declareRun(t, b, run, 2*hour, hour)
	ackAllAgo(t, b, run, 90*time.Minute)
	require.Zero(t, pass(t, b).CandidateRuns, "clean at first sight: no record needed")
	require.Equal(t, "clean", verdict(t, b, run))

	ack(t, b, run, ledger.Logs, ledger.StartTrace, "") // a keyless repeat, above the watermark
	require.Equal(t, "clean", verdict(t, b, run))
	pass(t, b)
	require.Equal(t, "clean", verdict(t, b, run))
}

// batchSignal is a slog handler that calls fn when the reconciler logs a
// recorded batch: a signal to stop a pass between batches, no timing.
type batchSignal struct {
	slog.Handler
	fn func()
}

func (h batchSignal) Enabled(context.Context, slog.Level) bool { return true }

func (h batchSignal) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "reconciler: batch recorded") {
		h.fn()
	}
	return nil
}

// On shutdown the batch in flight commits and the pass stops before the
// next one; the next pass records the rest.
func TestCancelStopsThePassAfterTheBatchInFlight(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := setup(t, func(o *reconciler.Options) {
		o.BatchSize = 2
		o.Logger = slog.New(batchSignal{Handler: slog.DiscardHandler, fn: cancel})
	})
	for range 10 {
		run := uuid.New()
		declareRun(t, b, run, 2*hour, hour)
		ackAllAgo(t, b, run, 90*time.Minute, ledger.CreateIncident)
	}
	settle(t, b)

	sum, err := b.rec.RunOnce(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, sum.Batches, "only the batch in flight")
	require.Equal(t, 1, count(t, b, `SELECT count(*) FROM rac.reconciliations WHERE pass_id = $1 AND NOT final`, sum.PassID))
	require.Equal(t, 2, count(t, b, `SELECT count(*) FROM rac.findings`))

	rest := passNow(t, b)
	require.Equal(t, 10, count(t, b, `SELECT count(*) FROM rac.findings`))
	require.Equal(t, 8, rest.FindingsRecorded)
}

// Run returns nil on shutdown after the batch in flight, and a pass
// waiting for the reconciler lock (another replica's batch) gives up.
func TestRunStopsWhileWaitingForTheLock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := uuid.New()
	declareRun(t, b, run, 2*hour, hour)
	settle(t, b)

	holder := begin(t, b)
	_, err := holder.Exec(b.ctx, `SELECT pg_advisory_xact_lock(5927209463450566476)`)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.rec.Run(ctx, time.Hour) }()
	require.Eventually(t, func() bool {
		return count(t, b, `
			SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted
			  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`) > 0
	}, 30*time.Second, 5*time.Millisecond, "the pass waits for the lock")
	cancel()
	require.NoError(t, <-done)
	require.Zero(t, count(t, b, `SELECT count(*) FROM rac.reconciliations`), "nothing recorded")
	require.NoError(t, holder.Rollback(b.ctx))
}

func TestPassTimeout(t *testing.T) {
	t.Parallel()
	_, err := reconciler.New(pgtest.NewPool(t), reconciler.Options{PassTimeout: -time.Second})
	require.ErrorIs(t, err, reconciler.ErrInvalidOptions)

	b := setup(t, func(o *reconciler.Options) { o.PassTimeout = time.Nanosecond })
	declareRun(t, b, uuid.New(), 2*hour, hour)
	settle(t, b)
	_, err = b.rec.RunOnce(b.ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Zero(t, count(t, b, `SELECT count(*) FROM rac.reconciliations`))
}

// A ledger reconciled under the earlier rules holds findings its evidence
// contradicts (here written as that reconciler left them). The first pass
// after the upgrade closes them by appending resolutions; nothing is
// updated or deleted.
func TestUpgradeMendsFindingsLeftOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	database := pgtest.NewEmptyDatabase(t)
	pool, err := pgxpool.New(ctx, database.URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	m, err := migrate.New(pool, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	_, err = m.UpTo(ctx, 7)
	require.NoError(t, err)

	// Three runs, every row final and covered by a finished pass: an
	// on-time ack left missing, an error ack beside an open missing, and
	// drift whose expectation committed later.
	onTime, failedRun, drifted := uuid.New(), uuid.New(), uuid.New()
	_, err = pool.Exec(ctx, `
		WITH e AS (
		    INSERT INTO rac.expectations (run_id, action_id, declared_at, deadline_ms, deadline_at)
		    SELECT r, 1, now() - interval '2 hours', 3600000, now() - interval '1 hour'
		    FROM unnest(ARRAY[$1, $2, $3]::uuid[]) r
		    RETURNING 1
		), a AS (
		    INSERT INTO rac.acks (run_id, action_id, acked_at, error)
		    VALUES ($1, 1, now() - interval '90 minutes', NULL),
		           ($2, 1, now() - interval '90 minutes', 'boom'),
		           ($3, 1, now() - interval '90 minutes', NULL)
		    RETURNING 1
		), p AS (
		    INSERT INTO rac.reconciliations (pass_id, batch, final, horizon_from, horizon_to, deadline_from,
		                                     deadline_to, as_of, grace_ms, candidate_runs, started_at, reconciler)
		    VALUES (gen_random_uuid(), 0, true, 0, pg_current_xact_id()::text::bigint + 1, 'epoch', now(), now(),
		            0, 3, now(), 'earlier rules')
		    RETURNING id
		), f AS (
		    INSERT INTO rac.findings (reconciliation_id, run_id, tenant_id, action_id, kind, violated_at)
		    SELECT p.id, x.run, 1, 1, x.kind, x.at
		    FROM p, (VALUES ($1::uuid, 'missing', now() - interval '1 hour'),
		                    ($2::uuid, 'missing', now() - interval '1 hour'),
		                    ($2::uuid, 'failed', now() - interval '90 minutes'),
		                    ($3::uuid, 'drift', now() - interval '90 minutes')) x(run, kind, at)
		    RETURNING 1
		)
		INSERT INTO rac.run_verdicts (reconciliation_id, run_id, tenant_id, seq, verdict)
		SELECT p.id, r, 1, 1, 'violated' FROM p, unnest(ARRAY[$1, $2, $3]::uuid[]) r`, onTime, failedRun, drifted)
	require.NoError(t, err)
	rowsBefore := count(t, bundle{ctx: ctx, pool: pool}, `SELECT count(*) FROM rac.findings`)

	_, err = m.Up(ctx)
	require.NoError(t, err)
	b := setupOn(t, pool)
	pgtest.WaitFinal(t, pool)
	sum := passNow(t, b)
	require.Equal(t, 3, sum.CandidateRuns, "the runs the upgrade asked to judge again")
	require.Equal(t, map[string]int{"retracted": 3}, sum.ResolutionsByKind)
	require.Equal(t, []string{"incidents/create_incident:failed"}, openFindings(t, b, failedRun))
	require.Empty(t, openFindings(t, b, onTime))
	require.Empty(t, openFindings(t, b, drifted))
	require.Equal(t, "clean", verdict(t, b, onTime))
	require.Equal(t, "violated", verdict(t, b, failedRun))
	require.Equal(t, "clean", verdict(t, b, drifted))
	require.Equal(t, rowsBefore, count(t, b, `SELECT count(*) FROM rac.findings`), "nothing new to find")
	require.Zero(t, pass(t, b).CandidateRuns, "mended once")
}

// A late ack, then an on-time ack of the same action committed after the
// pass that recorded the late finding: the run had no violation, but its
// late finding gave it a verdict row, so the on-time ack brings it back and
// the late finding is retracted.
func TestLateRetractedByAnOnTimeAckCommittedLater(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := uuid.New()
	declareRun(t, b, run, 2*hour, hour)
	ackAllAgo(t, b, run, 90*time.Minute, ledger.CreateIncident)
	late := begin(t, b)   // takes its xid first,
	domain := begin(t, b) // so the late ack is final while this is open
	now := ledgertest.Now(t, b.pool)
	ledgertest.Ack(t, domain, run, ledger.Incidents, ledger.CreateIncident, "", now.Add(-90*time.Minute))
	ledgertest.Ack(t, late, run, ledger.Incidents, ledger.CreateIncident, "", now.Add(-10*time.Minute))
	var lateXID int64
	require.NoError(t, late.QueryRow(b.ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&lateXID))
	require.NoError(t, late.Commit(b.ctx))
	waitFinal(t, b, lateXID)
	passNow(t, b)
	require.Equal(t, []string{"incidents/create_incident:late"}, findings(t, b, run))
	require.Equal(t, []string{"clean"}, strings1(t, b, `SELECT verdict FROM rac.run_verdicts WHERE run_id = $1`, run),
		"a run with a finding has a verdict row")

	require.NoError(t, domain.Commit(b.ctx))
	pass(t, b)
	rs := resolutions(t, b, run)
	require.Equal(t, []string{"late:retracted"}, kindsOf(rs))
	requireOrdered(t, rs)
	require.Equal(t, "clean", verdict(t, b, run))
}
