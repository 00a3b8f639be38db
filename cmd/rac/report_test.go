package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// reportJSON runs `rac report --format json args...` and decodes it.
func reportJSON(t *testing.T, url string, args ...string) (report, result) {
	t.Helper()
	res := rac(context.Background(), dbEnv(url), append([]string{"report", "--format", "json"}, args...)...)
	var rep report
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep), "stdout: %s\nstderr: %s", res.stdout, res.stderr)
	return rep, res
}

func TestReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	clean := writeCleanRun(t, pool)
	drift := writeDriftAck(t, pool)
	settle(t, pool)
	require.Equal(t, exitViolated, rac(ctx, dbEnv(db.URL), "reconcile", "--once").code)

	t.Run("json lists the open finding and exits 3", func(t *testing.T) {
		rep, res := reportJSON(t, db.URL)
		require.Equal(t, exitViolated, res.code, res.stderr)
		require.Len(t, rep.OpenFindings, 1)
		f := rep.OpenFindings[0]
		require.Equal(t, drift, f.RunID)
		require.Equal(t, "default", f.Tenant)
		require.Equal(t, "incidents", f.Domain)
		require.Equal(t, "create_incident", f.Action)
		require.Equal(t, "drift", f.Kind)
		require.False(t, f.DetectedAt.IsZero())
		require.Equal(t, map[string]int{"drift": 1}, rep.OpenByKind)
		require.Equal(t, map[string]int{"clean": 1, "pending": 0, "violated": 1}, rep.Verdicts)
		require.Nil(t, rep.Run)
	})

	t.Run("the table names the finding", func(t *testing.T) {
		res := rac(ctx, dbEnv(db.URL), "report")
		require.Equal(t, exitViolated, res.code, res.stderr)
		require.Contains(t, res.stdout, drift.String())
		require.Contains(t, res.stdout, "incidents/create_incident")
		require.Contains(t, res.stdout, "runs by verdict: 1 clean, 0 pending, 1 violated")
	})

	t.Run("an unknown run has no findings and exits 0", func(t *testing.T) {
		rep, res := reportJSON(t, db.URL, "--run", uuid.NewString())
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Empty(t, rep.OpenFindings)
		require.NotNil(t, rep.Run)
		require.Empty(t, rep.Run.Verdicts)
		require.Equal(t, map[string]int{"clean": 0, "pending": 0, "violated": 0}, rep.Verdicts)
	})

	t.Run("a selected run shows its verdict", func(t *testing.T) {
		rep, res := reportJSON(t, db.URL, "--run", drift.String())
		require.Equal(t, exitViolated, res.code, res.stderr)
		require.Len(t, rep.Run.Verdicts, 1)
		require.Equal(t, "violated", rep.Run.Verdicts[0].Verdict)
		require.Equal(t, map[string]int{"clean": 0, "pending": 0, "violated": 1}, rep.Verdicts)

		rep, res = reportJSON(t, db.URL, "--run", clean.String())
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Len(t, rep.Run.Verdicts, 1)
		require.Equal(t, "clean", rep.Run.Verdicts[0].Verdict)
		require.Equal(t, map[string]int{"clean": 1, "pending": 0, "violated": 0}, rep.Verdicts)
	})

	t.Run("since and tenant filter the findings", func(t *testing.T) {
		_, res := reportJSON(t, db.URL, "--since", "1h")
		require.Equal(t, exitViolated, res.code, res.stderr)
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		rep, res := reportJSON(t, db.URL, "--since", future)
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Empty(t, rep.OpenFindings)
		rep, res = reportJSON(t, db.URL, "--tenant", "default")
		require.Equal(t, exitViolated, res.code, res.stderr)
		require.Len(t, rep.OpenFindings, 1)
		require.Equal(t, []string{"default"}, rep.Scope)
	})

	t.Run("an unknown tenant is an error, never nothing open", func(t *testing.T) {
		res := rac(ctx, dbEnv(db.URL), "report", "--tenant", "nosuch")
		require.Equal(t, exitError, res.code, res.stdout)
		require.Contains(t, res.stderr, "unknown tenant")
		require.Empty(t, res.stdout)
	})

	t.Run("report writes nothing", func(t *testing.T) {
		var before, after int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rac.reconciliations`).Scan(&before))
		rac(ctx, dbEnv(db.URL), "report", "--run", drift.String())
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rac.reconciliations`).Scan(&after))
		require.Equal(t, before, after)
	})
}

// ackID returns the id of run's only ack of incidents/create_incident.
func ackID(t *testing.T, pool *pgxpool.Pool, run uuid.UUID) int64 {
	t.Helper()
	var id int64
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT a.id FROM rac.acks a JOIN rac.contract_actions c ON c.id = a.action_id
		WHERE a.run_id = $1 AND c.domain = 'incidents' AND c.action = 'create_incident'`, run).Scan(&id))
	return id
}

// The report tells a false alarm from a late action. Two runs, declared two
// hours ago with a one-hour deadline, have their incident acked inside one
// domain transaction that took its xid before they were declared: one ack
// written on time (90 minutes ago), one late (30 minutes ago). A pass while
// that transaction is open records both incidents missing; once it commits,
// the next pass retracts the first (it never held) and resolves the second
// by its late ack, recording it late.
func TestReportTellsAFalseAlarmFromALateAction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	onTime, late := uuid.New(), uuid.New()

	domain := ledgertest.BeginDomainTx(t, pool)
	now := ledgertest.Now(t, pool)
	for _, run := range []uuid.UUID{onTime, late} {
		ledgertest.DeclareRun(t, pool, ledger.DefaultTenant, run, now.Add(-2*time.Hour), time.Hour)
		ledgertest.AckRun(t, pool, run, now.Add(-90*time.Minute), ledger.CreateIncident)
	}
	ledgertest.Ack(t, domain, onTime, ledger.Incidents, ledger.CreateIncident, "", now.Add(-90*time.Minute))
	ledgertest.Ack(t, domain, late, ledger.Incidents, ledger.CreateIncident, "", now.Add(-30*time.Minute))

	res := rac(ctx, dbEnv(db.URL), "reconcile", "--once")
	require.Equal(t, exitViolated, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stdout, "findings        2 recorded: missing 2")

	t.Run("while the acks are uncommitted the run's history shows an open missing", func(t *testing.T) {
		rep, res := reportJSON(t, db.URL, "--run", onTime.String())
		require.Equal(t, exitViolated, res.code, res.stderr)
		require.Len(t, rep.Run.History, 1)
		h := rep.Run.History[0]
		require.Equal(t, "missing", h.Kind)
		require.True(t, h.Open)
		require.Nil(t, h.Resolution)
		require.Nil(t, h.ResolvedAt)
		require.Nil(t, h.EvidenceTable)
		require.Equal(t, map[string]int{"retracted": 0, "acked": 0, "superseded": 0, "declared": 0, "waived": 0},
			rep.ClosedByResolution)
	})

	require.NoError(t, domain.Commit(ctx))
	settle(t, pool)
	res = rac(ctx, dbEnv(db.URL), "reconcile", "--once")
	require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stdout, "resolutions     2 recorded: retracted 1, acked 1")
	require.Contains(t, res.stdout, "findings        1 recorded: late 1")

	t.Run("closed findings are counted by resolution", func(t *testing.T) {
		rep, res := reportJSON(t, db.URL)
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Empty(t, rep.OpenFindings)
		require.Equal(t, map[string]int{"retracted": 1, "acked": 1, "superseded": 0, "declared": 0, "waived": 0},
			rep.ClosedByResolution)
		require.Equal(t, map[string]int{"clean": 2, "pending": 0, "violated": 0}, rep.Verdicts)
		require.Nil(t, rep.Run, "no history without --run")

		out := rac(ctx, dbEnv(db.URL), "report")
		require.Equal(t, exitOK, out.code, out.stderr)
		require.Contains(t, out.stdout, "open findings: none")
		require.Contains(t, out.stdout, "closed findings: 2")
		require.Regexp(t, `(?m)^  retracted\s+1\s+never held: the evidence was written in time and committed late \(a false alarm\)$`, out.stdout)
		require.Regexp(t, `(?m)^  acked\s+1\s+resolved by a success ack written after the violation began \(a late action\)$`, out.stdout)
		require.NotContains(t, out.stdout, "superseded", "resolutions that closed nothing are not listed")
	})

	t.Run("since applies to when the resolution was recorded, tenant to whose it is", func(t *testing.T) {
		rep, _ := reportJSON(t, db.URL, "--since", "1h")
		require.Equal(t, 1, rep.ClosedByResolution["retracted"])
		require.Equal(t, 1, rep.ClosedByResolution["acked"])

		var first, last time.Time
		require.NoError(t, pool.QueryRow(ctx, `SELECT min(recorded_at), max(recorded_at) FROM rac.finding_resolutions`).
			Scan(&first, &last))
		after := last.Add(time.Microsecond).UTC().Format(time.RFC3339Nano)
		rep, res := reportJSON(t, db.URL, "--since", after)
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Zero(t, rep.ClosedByResolution["retracted"]+rep.ClosedByResolution["acked"])
		rep, _ = reportJSON(t, db.URL, "--since", first.UTC().Format(time.RFC3339Nano))
		require.Equal(t, 2, rep.ClosedByResolution["retracted"]+rep.ClosedByResolution["acked"])

		_, err := pool.Exec(context.Background(), `INSERT INTO rac.tenants (name) VALUES ('nobody')`)
		require.NoError(t, err)
		rep, _ = reportJSON(t, db.URL, "--tenant", "nobody")
		require.Zero(t, rep.ClosedByResolution["retracted"]+rep.ClosedByResolution["acked"])
		rep, _ = reportJSON(t, db.URL, "--tenant", ledger.DefaultTenant)
		require.Equal(t, 2, rep.ClosedByResolution["retracted"]+rep.ClosedByResolution["acked"])
	})

	t.Run("the false alarm: retracted, resolved when it was violated, its evidence written before", func(t *testing.T) {
		rep, res := reportJSON(t, db.URL, "--run", onTime.String())
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Equal(t, map[string]int{"retracted": 1, "acked": 0, "superseded": 0, "declared": 0, "waived": 0},
			rep.ClosedByResolution)
		require.Len(t, rep.Run.History, 1)
		h := rep.Run.History[0]
		require.Equal(t, []string{"default", "incidents", "create_incident", "missing"}, []string{h.Tenant, h.Domain, h.Action, h.Kind})
		require.Equal(t, onTime, h.RunID)
		require.False(t, h.Open)
		require.Equal(t, "retracted", *h.Resolution)
		require.True(t, h.ResolvedAt.Equal(h.ViolatedAt), "a retracted finding never held")
		require.False(t, h.ResolutionRecordedAt.Before(h.DetectedAt))
		require.Equal(t, "acks", *h.EvidenceTable)
		require.Equal(t, ackID(t, pool, onTime), *h.EvidenceID)
		require.True(t, h.EvidenceAt.Equal(now.Add(-90*time.Minute)), "the ack's acked_at")
		require.True(t, h.EvidenceAt.Before(h.ViolatedAt), "written before the deadline")
		require.Nil(t, h.Actor)

		out := rac(ctx, dbEnv(db.URL), "report", "--run", onTime.String())
		require.Equal(t, exitOK, out.code, out.stderr)
		require.Contains(t, out.stdout, "finding history of run "+onTime.String()+": 1 finding(s)")
		require.Contains(t, out.stdout, "RESOLUTION")
		require.Regexp(t, `incidents/create_incident\s+missing\s+.*\s+retracted\s+`+
			regexpTime(h.ViolatedAt)+`\s+\S+ \S+\s+acks `+itoa(*h.EvidenceID)+` at `+regexpTime(*h.EvidenceAt), out.stdout)
	})

	t.Run("the late action: acked at its late ack's time, and a late finding", func(t *testing.T) {
		rep, res := reportJSON(t, db.URL, "--run", late.String())
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Equal(t, map[string]int{"retracted": 0, "acked": 1, "superseded": 0, "declared": 0, "waived": 0},
			rep.ClosedByResolution)
		require.Len(t, rep.Run.History, 2)
		missing, lateFinding := rep.Run.History[0], rep.Run.History[1]
		require.Equal(t, "missing", missing.Kind)
		require.Equal(t, "acked", *missing.Resolution)
		require.Equal(t, "acks", *missing.EvidenceTable)
		require.Equal(t, ackID(t, pool, late), *missing.EvidenceID)
		require.True(t, missing.EvidenceAt.Equal(now.Add(-30*time.Minute)))
		require.True(t, missing.ResolvedAt.Equal(*missing.EvidenceAt), "resolved when the late ack was written")
		require.True(t, missing.ResolvedAt.After(missing.ViolatedAt))

		require.Equal(t, "late", lateFinding.Kind)
		require.False(t, lateFinding.Open, "late is history")
		require.Nil(t, lateFinding.Resolution)
		require.True(t, lateFinding.ViolatedAt.Equal(now.Add(-30*time.Minute)), "the late ack's time")
		require.False(t, lateFinding.DetectedAt.Before(missing.DetectedAt))

		out := rac(ctx, dbEnv(db.URL), "report", "--run", late.String())
		require.Equal(t, exitOK, out.code, out.stderr)
		require.Contains(t, out.stdout, "finding history of run "+late.String()+": 2 finding(s)")
		require.Regexp(t, `incidents/create_incident\s+missing\s+.*\s+acked\s+`+regexpTime(*missing.ResolvedAt), out.stdout)
		require.Regexp(t, `incidents/create_incident\s+late\s+\S+ \S+\s+\S+ \S+\s+-\s+-\s+-\s+-`, out.stdout)
		require.Contains(t, out.stdout, "a late finding without resolution is history")
	})

	t.Run("the history is the run's whole history whatever since says", func(t *testing.T) {
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		rep, res := reportJSON(t, db.URL, "--run", late.String(), "--since", future)
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Len(t, rep.Run.History, 2)
		require.Zero(t, rep.ClosedByResolution["acked"])
	})

	t.Run("a run without findings has an empty history", func(t *testing.T) {
		rep, _ := reportJSON(t, db.URL, "--run", uuid.NewString())
		require.NotNil(t, rep.Run.History)
		require.Empty(t, rep.Run.History)
		out := rac(ctx, dbEnv(db.URL), "report", "--run", uuid.NewString())
		require.Contains(t, out.stdout, ": no findings")
	})
}

// regexpTime is t as the table prints it, quoted for a regexp.
func regexpTime(t time.Time) string { return regexp.QuoteMeta(formatTime(t)) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A report cannot say that nothing is open when no pass has looked: no
// finished pass at all, or runs past their deadline after a last finished
// pass older than --max-lag. It says so and exits 5; a violation it does
// know of still exits 3.
func TestReportCannotTell(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	writeCleanRun(t, pool)
	settle(t, pool)

	rep, res := reportJSON(t, db.URL)
	require.Equal(t, exitCannotTell, res.code, res.stderr)
	require.Contains(t, rep.CannotTell, "no reconciliation pass has finished")
	require.Contains(t, res.stderr, "cannot tell")
	require.Nil(t, rep.Coverage.LastPassID)
	table := rac(ctx, dbEnv(db.URL), "report")
	require.Equal(t, exitCannotTell, table.code)
	require.Contains(t, table.stdout, "last finished pass: none")
	require.Contains(t, table.stdout, "CANNOT TELL: no reconciliation pass has finished")

	require.Equal(t, exitOK, rac(ctx, dbEnv(db.URL), "reconcile", "--once").code)
	rep, res = reportJSON(t, db.URL)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Empty(t, rep.CannotTell)
	require.NotNil(t, rep.Coverage.LastPassID)
	require.Equal(t, []string{"default"}, rep.Scope)
	require.Zero(t, rep.Coverage.OverdueUnjudgedRuns)

	// A run whose deadline passes after the last pass: not judged yet.
	run := uuid.New()
	require.NoError(t, newLedger().Expect(ctx, pool, run, ledger.Expectation{
		Domain: ledger.Incidents, Action: ledger.CreateIncident, Deadline: 50 * time.Millisecond}))
	require.Eventually(t, func() bool {
		rep, _ = reportJSON(t, db.URL)
		return rep.Coverage.OverdueUnjudgedRuns == 1
	}, 30*time.Second, 10*time.Millisecond)
	rep, res = reportJSON(t, db.URL)
	require.Equal(t, exitOK, res.code, "within --max-lag of the last pass the report trusts it: %s", res.stderr)
	rep, res = reportJSON(t, db.URL, "--max-lag", "0s")
	require.Equal(t, exitCannotTell, res.code, res.stderr)
	require.Contains(t, rep.CannotTell, "1 run(s) passed their deadline after the last finished pass")
	table = rac(ctx, dbEnv(db.URL), "report", "--max-lag", "0s")
	require.Contains(t, table.stdout, "not judged yet: 1 run(s)")

	// The pass that judges it finds it missing: a known violation.
	require.Equal(t, exitViolated, rac(ctx, dbEnv(db.URL), "reconcile", "--once").code)
	rep, res = reportJSON(t, db.URL, "--max-lag", "0s")
	require.Equal(t, exitViolated, res.code, res.stderr)
	require.Zero(t, rep.Coverage.OverdueUnjudgedRuns)
}

// An auditor pinned to one tenant sees its scope named, and naming another
// tenant is an error.
func TestReportScopeOfAPinnedAuditor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	url, role := pgtest.LoginRole(t, db, "rac_auditor")
	_, err := pool.Exec(ctx, `INSERT INTO rac.tenants (name) VALUES ('blue'), ('green')`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO rac.tenant_roles (role_name, tenant_id) SELECT $1, id FROM rac.tenants WHERE name = 'blue'`, role)
	require.NoError(t, err)
	require.Equal(t, exitOK, rac(ctx, dbEnv(db.URL), "reconcile", "--once").code)

	rep, res := reportJSON(t, url)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, []string{"blue"}, rep.Scope)
	table := rac(ctx, dbEnv(url), "report")
	require.Contains(t, table.stdout, "scope: tenant(s) blue")

	res = rac(ctx, dbEnv(url), "report", "--tenant", "green")
	require.Equal(t, exitError, res.code, res.stdout)
	require.Contains(t, res.stderr, "may not act in tenant")
	require.NotContains(t, res.stderr, strings.Split(strings.TrimPrefix(url, "postgres://"), "@")[0], "no password in errors")
}
