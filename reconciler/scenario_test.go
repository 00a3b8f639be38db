package reconciler_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// mixed writes a known mix of runs and returns the findings per kind a
// pass must record, and the runs left missing that a late ack can resolve.
type mixed struct {
	want        map[string]int
	missingRuns []uuid.UUID // incidents/create_incident missing
	staleRuns   []uuid.UUID
}

func writeMixed(t *testing.T, b bundle) mixed {
	t.Helper()
	m := mixed{want: map[string]int{}}
	onTime := 90 * time.Minute // declared 2h ago, deadline 1h: acked 30 min early
	for range 40 {             // clean
		run := uuid.New()
		declareRun(t, b, run, 2*hour, hour)
		ackAllAgo(t, b, run, onTime)
	}
	for range 7 { // the incident never written
		run := uuid.New()
		declareRun(t, b, run, 2*hour, hour)
		ackAllAgo(t, b, run, onTime, ledger.CreateIncident)
		m.missingRuns = append(m.missingRuns, run)
	}
	m.want["missing"] += 7
	for range 5 { // never finalized: missing and stale
		run := uuid.New()
		declareRun(t, b, run, 2*hour, hour)
		ackAllAgo(t, b, run, onTime, ledger.FinalizeRun)
		m.staleRuns = append(m.staleRuns, run)
	}
	m.want["missing"] += 5
	m.want["stale"] += 5
	for range 4 { // the policy engine reported failure, nothing else
		run := uuid.New()
		declareRun(t, b, run, 2*hour, hour)
		ackAllAgo(t, b, run, onTime, ledger.EvaluatePolicy)
		ackAgo(t, b, run, ledger.Policies, ledger.EvaluatePolicy, "policy engine timeout", onTime)
	}
	m.want["failed"] += 4
	for range 3 { // a failure, then a success within the deadline: acked
		run := uuid.New()
		declareRun(t, b, run, 2*hour, hour)
		ackAgo(t, b, run, ledger.Policies, ledger.EvaluatePolicy, "transient", 100*time.Minute)
		ackAllAgo(t, b, run, onTime)
	}
	for range 3 { // the trace completed after its deadline
		run := uuid.New()
		declareRun(t, b, run, 2*hour, hour)
		ackAllAgo(t, b, run, onTime, ledger.CompleteTrace)
		ackAgo(t, b, run, ledger.Logs, ledger.CompleteTrace, "", 10*time.Minute)
	}
	m.want["late"] += 3
	for range 6 { // deadline ahead, trace not complete yet: pending
		run := uuid.New()
		declareRun(t, b, run, 0, hour)
		ackAll(t, b, run, ledger.CompleteTrace)
	}
	for range 2 { // an incident nobody expected
		run := uuid.New()
		ack(t, b, run, ledger.Incidents, ledger.CreateIncident, "")
	}
	m.want["drift"] += 2
	for range 3 { // a contract declared without deadline
		run := uuid.New()
		declare(t, b, run, ledger.Logs, ledger.StartTrace, 2*hour, 0)
		ackAgo(t, b, run, ledger.Logs, ledger.StartTrace, "", onTime)
	}
	m.want["invalid"] += 3
	return m
}

func kinds(t *testing.T, b bundle) map[string]int {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT kind, count(*)::int FROM rac.findings GROUP BY kind`)
	require.NoError(t, err)
	got := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		require.NoError(t, rows.Scan(&k, &n))
		got[k] = n
	}
	require.NoError(t, rows.Err())
	return got
}

func TestMixedScenario(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *reconciler.Options) { o.BatchSize = 7 }) // several batches
	m := writeMixed(t, b)

	first := pass(t, b)
	// 73 runs; the 43 acked on time need no record, the 30 others do.
	require.Equal(t, 30, first.CandidateRuns)
	require.Equal(t, 5, first.Batches)
	require.Equal(t, m.want, kinds(t, b))
	require.Equal(t, m.want, first.FindingsByKind)
	wantOpen := map[string]int{"missing": 12, "stale": 5, "failed": 4, "drift": 2, "invalid": 3}
	require.Equal(t, wantOpen, first.OpenFindings)
	verdicts := map[string]int{}
	for _, v := range strings1(t, b, `SELECT verdict FROM rac.run_status`) {
		verdicts[v]++
	}
	require.Equal(t, map[string]int{"clean": 46, "pending": 6, "violated": 21}, verdicts)
	require.Equal(t, 1, count(t, b, `SELECT count(*) FROM rac.reconciliations WHERE final`))
	require.Equal(t, 5, count(t, b, `SELECT count(*) FROM rac.reconciliations WHERE pass_id = $1`, first.PassID))

	t.Run("a second pass records nothing new", func(t *testing.T) {
		before := ledgerState(t, b)
		again := pass(t, b)
		require.Zero(t, again.CandidateRuns, "nothing changed, no deadline fell")
		require.Zero(t, again.FindingsRecorded+again.ResolutionsRecorded+again.VerdictsRecorded)
		require.Equal(t, before, ledgerState(t, b))
	})

	t.Run("late acks resolve findings and are recorded late", func(t *testing.T) {
		for _, run := range m.missingRuns[:3] {
			ack(t, b, run, ledger.Incidents, ledger.CreateIncident, "")
		}
		for _, run := range m.staleRuns[:2] {
			ack(t, b, run, ledger.Orchestrator, ledger.FinalizeRun, "")
		}
		sum := pass(t, b)
		require.Equal(t, 5, sum.CandidateRuns)
		require.Equal(t, map[string]int{"late": 5}, sum.FindingsByKind)
		require.Equal(t, 3+2*2, sum.ResolutionsRecorded, "missing x3, and missing+stale x2")
		require.Equal(t, 5, sum.VerdictsRecorded, "violated -> clean")
		require.Equal(t, map[string]int{"missing": 7, "stale": 3, "failed": 4, "drift": 2, "invalid": 3}, sum.OpenFindings)
		for _, run := range append(m.missingRuns[:3], m.staleRuns[:2]...) {
			require.Equal(t, "clean", verdict(t, b, run))
			require.Empty(t, openFindings(t, b, run))
		}
		// Resolutions carry when the finding stopped being true: the ack's time.
		require.Zero(t, count(t, b, `
			SELECT count(*) FROM rac.finding_resolutions r JOIN rac.acks a ON a.id = r.ack_id
			WHERE r.resolved_at <> a.acked_at`))
		require.Equal(t, 7, count(t, b, `SELECT count(*) FROM rac.finding_resolutions WHERE resolution = 'acked'`))

		again := pass(t, b)
		require.Zero(t, again.FindingsRecorded+again.ResolutionsRecorded+again.VerdictsRecorded)
	})

	t.Run("a verdict history keeps every change", func(t *testing.T) {
		run := m.missingRuns[0]
		require.Equal(t, []string{"1:violated", "2:clean"},
			strings1(t, b, `SELECT seq || ':' || verdict FROM rac.run_verdicts WHERE run_id = $1 ORDER BY seq`, run))
	})
}

// A transaction that declared an expectation, stayed open past its
// deadline while passes ran, and then committed is still reconciled; while
// it is open, deadline-driven findings of other runs keep flowing.
func TestLongTransactionCommittedAfterItsDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	slow := uuid.New()
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer tx.Rollback(b.ctx)
	_, err = tx.Exec(b.ctx, `
		INSERT INTO rac.expectations (run_id, action_id, declared_at, deadline_ms, deadline_at)
		SELECT $1, id, clock_timestamp() - interval '2 hours', 3600000, clock_timestamp() - interval '1 hour'
		FROM rac.contract_actions WHERE domain = 'incidents' AND action = 'create_incident'`, slow)
	require.NoError(t, err)
	var slowXID int64
	require.NoError(t, tx.QueryRow(b.ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&slowXID))

	// Committed after the slow transaction began, deadline long past.
	other := uuid.New()
	declare(t, b, other, ledger.Incidents, ledger.CreateIncident, 2*hour, hour)

	first, err := b.rec.RunOnce(b.ctx)
	require.NoError(t, err)
	require.LessOrEqual(t, first.HorizonTo, slowXID, "the open transaction holds the horizon")
	require.Greater(t, first.HorizonLag, time.Duration(0), "and the lag shows it")
	require.Equal(t, []string{"incidents/create_incident:missing"}, findings(t, b, other), "deadline findings flow meanwhile")
	require.Empty(t, findings(t, b, slow))

	second, err := b.rec.RunOnce(b.ctx)
	require.NoError(t, err)
	require.Zero(t, second.CandidateRuns, "its deadline fell in the first pass's window; it is still invisible")

	require.NoError(t, tx.Commit(b.ctx))
	third := pass(t, b)
	require.Equal(t, 2, third.CandidateRuns, "both transactions are final now; the other run is looked at again")
	require.Equal(t, 1, third.FindingsRecorded)
	require.Equal(t, []string{"incidents/create_incident:missing"}, findings(t, b, slow))
	require.Equal(t, "violated", verdict(t, b, slow))
	require.Equal(t, 1, count(t, b, `
		SELECT count(*) FROM rac.findings f JOIN rac.expectations e ON e.run_id = f.run_id
		WHERE f.run_id = $1 AND f.violated_at = e.deadline_at AND f.detected_at > e.deadline_at`, slow))
}

// Four reconcilers started at once record exactly what one records, each
// finding once; their counters add up to the rows written.
func TestConcurrentReconcilers(t *testing.T) {
	t.Parallel()
	one := setup(t)
	m := writeMixed(t, one)
	single := pass(t, one)

	four := setup(t)
	writeMixed(t, four)
	settle(t, four)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		sums  = make([]reconciler.Summary, 4)
		errs  = make([]error, 4)
	)
	for i := range 4 {
		rec, err := reconciler.New(four.pool, reconciler.Options{Name: fmt.Sprintf("replica-%d", i), BatchSize: 5})
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sums[i], errs[i] = rec.RunOnce(four.ctx)
		}()
	}
	close(start)
	wg.Wait()
	total := reconciler.Summary{}
	for i := range 4 {
		require.NoError(t, errs[i], "replica %d", i)
		total.FindingsRecorded += sums[i].FindingsRecorded
		total.ResolutionsRecorded += sums[i].ResolutionsRecorded
		total.VerdictsRecorded += sums[i].VerdictsRecorded
	}
	require.Equal(t, m.want, kinds(t, four))
	require.Equal(t, single.FindingsRecorded, total.FindingsRecorded, "each finding counted by exactly one replica")
	require.Equal(t, single.VerdictsRecorded, total.VerdictsRecorded)
	require.Equal(t, count(t, one, `SELECT count(*) FROM rac.run_verdicts`), count(t, four, `SELECT count(*) FROM rac.run_verdicts`))
	require.Equal(t, total.FindingsRecorded, count(t, four, `SELECT count(*) FROM rac.findings`))
	require.Equal(t, count(t, one, `SELECT count(*) FROM rac.open_findings`), count(t, four, `SELECT count(*) FROM rac.open_findings`))
	require.Equal(t,
		strings1(t, one, `SELECT verdict || ' ' || count(*) FROM rac.run_status GROUP BY verdict ORDER BY 1`),
		strings1(t, four, `SELECT verdict || ' ' || count(*) FROM rac.run_status GROUP BY verdict ORDER BY 1`))
	require.Equal(t, 4, count(t, four, `SELECT count(*) FROM rac.reconciliations WHERE final`))
}

// A pass whose connection is killed in the middle of a batch leaves no part
// of that batch behind, and the next pass does the whole job.
func TestPassKilledMidBatch(t *testing.T) {
	t.Parallel()
	database := pgtest.NewDatabase(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(database.URL)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["application_name"] = "rac-victim"
	victim, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(victim.Close)
	admin, err := pgxpool.New(ctx, database.Admin())
	require.NoError(t, err)
	t.Cleanup(admin.Close)

	b := setupOn(t, victim)
	m := writeMixed(t, b)
	settle(t, b)

	// Hold a lock the batch's INSERT into rac.findings must wait for.
	blocker, err := admin.Begin(ctx)
	require.NoError(t, err)
	defer blocker.Rollback(ctx)
	_, err = blocker.Exec(ctx, `LOCK TABLE rac.findings IN SHARE MODE`)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { _, err := b.rec.RunOnce(ctx); done <- err }()

	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := admin.QueryRow(ctx, `
			SELECT pid FROM pg_stat_activity
			WHERE application_name = 'rac-victim' AND wait_event_type = 'Lock' AND datname = current_database()`).Scan(&pid)
		if err == nil {
			break
		}
		require.ErrorIs(t, err, pgx.ErrNoRows)
		require.True(t, time.Now().Before(deadline), "the batch never blocked on the lock")
		time.Sleep(5 * time.Millisecond)
	}
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid)
	require.NoError(t, err)
	require.Error(t, <-done, "the pass reports the lost connection")
	require.NoError(t, blocker.Rollback(ctx))

	for _, table := range []string{"rac.findings", "rac.finding_resolutions", "rac.run_verdicts", "rac.reconciliations"} {
		require.Zero(t, count(t, b, `SELECT count(*) FROM `+table), "%s holds nothing of the killed batch", table)
	}

	next := pass(t, b)
	require.Equal(t, 30, next.CandidateRuns, "the next pass starts from the last finished one")
	require.Equal(t, m.want, kinds(t, b))
}

// An idle pass over a large ledger examines no candidate run.
func TestIdlePassExaminesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const runs = 20_000
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO rac.expectations (run_id, action_id, declared_at, deadline_ms, deadline_at)
		SELECT r.id, c.id, clock_timestamp() - interval '2 hours', 3600000, clock_timestamp() - interval '1 hour'
		FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, $1)) r CROSS JOIN rac.contract_actions c`, runs)
	require.NoError(t, err)
	// Every action acked on time but one incident in a hundred runs.
	_, err = b.pool.Exec(b.ctx, `
		INSERT INTO rac.acks (run_id, action_id, acked_at)
		SELECT e.run_id, e.action_id, e.declared_at + interval '1 minute' FROM rac.expectations e
		WHERE NOT (e.action_id = 1 AND e.id % 500 = 1)`)
	require.NoError(t, err)
	var missing int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM rac.expectations WHERE action_id = 1 AND id % 500 = 1`).Scan(&missing))

	first := pass(t, b)
	require.Equal(t, missing, first.CandidateRuns)
	require.Equal(t, missing, first.FindingsByKind["missing"])

	idle := pass(t, b)
	require.Zero(t, idle.CandidateRuns)
	require.Equal(t, 1, idle.Batches)
	var recorded int
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT candidate_runs FROM rac.reconciliations WHERE pass_id = $1 AND final`, idle.PassID).Scan(&recorded))
	require.Zero(t, recorded)
}
