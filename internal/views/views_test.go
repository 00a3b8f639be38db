package views_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// The findings a status calls for, as the reconciler records them.
func findingsFor(ref, status string, invalid bool) []string {
	var kinds []string
	switch status {
	case "missing":
		kinds = append(kinds, "missing")
		if ref == "orchestrator/finalize_run" {
			kinds = append(kinds, "stale")
		}
	case "failed", "late", "drift":
		kinds = append(kinds, status)
	}
	if invalid {
		kinds = append(kinds, "invalid")
	}
	slices.Sort(kinds)
	return kinds
}

func TestActionStatusAgreesWithReconciler(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := seed(t, b)
	sum := pass(t, b)
	require.Equal(t, seededFindings, sum.FindingsByKind, "the fixtures are what the scenario says")

	require.Equal(t, seededStatuses, counts(t, b.pool, `SELECT status, count(*) FROM rac.action_status GROUP BY status`))

	t.Run("every status matches the findings recorded for it", func(t *testing.T) {
		rows, err := b.pool.Query(b.ctx, `
			SELECT s.tenant_id || ' ' || s.run_id || ' ' || s.domain || '/' || s.action,
			       s.domain || '/' || s.action, s.status, s.expected AND s.deadline_at IS NULL,
			       coalesce(array_agg(f.kind ORDER BY f.kind) FILTER (WHERE f.kind IS NOT NULL), '{}')
			FROM rac.action_status s
			LEFT JOIN (
			    SELECT t.name AS tenant, f.run_id, c.domain, c.action, f.kind
			    FROM rac.findings f
			    JOIN rac.tenants t ON t.id = f.tenant_id
			    JOIN rac.contract_actions c ON c.id = f.action_id
			) f ON f.tenant = s.tenant_id AND f.run_id = s.run_id AND f.domain = s.domain AND f.action = s.action
			GROUP BY 1, 2, 3, 4`)
		require.NoError(t, err)
		defer rows.Close() // a failed require must not keep the connection from the pool
		matched := 0
		for rows.Next() {
			var key, ref, status string
			var invalid bool
			var kinds []string
			require.NoError(t, rows.Scan(&key, &ref, &status, &invalid, &kinds))
			want := findingsFor(ref, status, invalid)
			if len(want) == 0 {
				want = []string{}
			}
			require.Equal(t, want, kinds, "%s is %s", key, status)
			matched += len(kinds)
		}
		require.NoError(t, rows.Err())
		var recorded int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM rac.findings`).Scan(&recorded))
		require.Equal(t, recorded, matched, "every finding belongs to a row of rac.action_status")
	})

	t.Run("every run's statuses are those ReconcileRun computes", func(t *testing.T) {
		recs := map[string]*reconciler.Reconciler{}
		for _, tenant := range []string{defaultTenant, acme} {
			rec, err := reconciler.New(b.pool, reconciler.Options{Name: t.Name(), Tenant: tenant})
			require.NoError(t, err)
			recs[tenant] = rec
		}
		rows, err := b.pool.Query(b.ctx, `
			SELECT tenant_id, run_id, array_agg(domain || '/' || action || ':' || status ORDER BY domain, action)
			FROM rac.action_status GROUP BY tenant_id, run_id`)
		require.NoError(t, err)
		type run struct {
			tenant   string
			id       uuid.UUID
			statuses []string
		}
		runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (run, error) {
			var x run
			return x, r.Scan(&x.tenant, &x.id, &x.statuses)
		})
		require.NoError(t, err)
		require.Len(t, runs, 10+4+3+2+2+3+3+1+2+2)
		for _, r := range runs {
			res, err := recs[r.tenant].ReconcileRun(b.ctx, r.id)
			require.NoError(t, err)
			var got []string
			for status, refs := range map[string][]reconciler.Ref{
				"acked": res.Acked, "late": res.Late, "failed": res.Failed,
				"pending": res.Pending, "missing": res.Missing, "drift": res.Drift,
			} {
				for _, ref := range refs {
					got = append(got, ref.String()+":"+status)
				}
			}
			slices.Sort(got)
			require.Equal(t, r.statuses, got, "run %s of %s", r.id, r.tenant)
		}
	})

	t.Run("rac.grace moves deadlines for this session only", func(t *testing.T) {
		conn, err := b.pool.Acquire(b.ctx)
		require.NoError(t, err)
		defer conn.Release()
		_, err = conn.Exec(b.ctx, `SET rac.grace = '2 hours'`)
		require.NoError(t, err)
		// The late traces (at most an hour late) are within the grace; the
		// missing actions are months past theirs.
		want := map[string]int{"acked": seededStatuses["acked"] + 3, "missing": 12, "failed": 2, "pending": 3, "drift": 2}
		require.Equal(t, want, counts(t, conn, `SELECT status, count(*) FROM rac.action_status GROUP BY status`))
		require.Equal(t, seededStatuses, counts(t, b.pool, `
			SELECT status, count(*) FROM rac.action_status
			WHERE pg_backend_pid() <> $1 GROUP BY status`, conn.Conn().PgConn().PID()), "other sessions")

		_, err = conn.Exec(b.ctx, `RESET rac.grace`)
		require.NoError(t, err)
		require.Equal(t, seededStatuses, counts(t, conn, `SELECT status, count(*) FROM rac.action_status GROUP BY status`))
	})

	t.Run("invalid contracts are never missing or late", func(t *testing.T) {
		got := counts(t, b.pool, `
			SELECT status, count(*) FROM rac.action_status
			WHERE expected AND deadline_at IS NULL GROUP BY status`)
		require.Equal(t, map[string]int{"acked": 2, "pending": 1}, got)
		var status string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT status FROM rac.action_status WHERE run_id = $1`,
			s.invalidUnacked).Scan(&status))
		require.Equal(t, "pending", status)
	})
}

func TestDailySummary(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := seed(t, b)

	type counts8 [8]int // expected, acked_on_time, late, missing, failed, pending, drift, invalid
	type row struct {
		c            counts8
		completeness *float64
	}
	rows, err := b.pool.Query(b.ctx, `
		SELECT day, tenant_id, domain || '/' || action, expected, acked_on_time, late, missing, failed, pending,
		       drift, invalid, completeness
		FROM rac.daily_summary`)
	require.NoError(t, err)
	defer rows.Close() // a failed require must not keep the connection from the pool
	got := map[string]row{}
	recent := map[string]counts8{} // the runs declared now: due today or tomorrow (UTC)
	for rows.Next() {
		var day time.Time
		var tenant, ref string
		var r row
		c := &r.c
		require.NoError(t, rows.Scan(&day, &tenant, &ref, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7], &r.completeness))
		label := map[time.Time]string{s.dayA: "A", s.dayB: "B", s.dayC: "C"}[day]
		if label == "" {
			require.True(t, day.After(s.dayC), "unexpected day %s", day)
			sum := recent[ref]
			for i := range sum {
				sum[i] += c[i]
			}
			recent[ref] = sum
			continue
		}
		got[label+" "+tenant+" "+ref] = r
	}
	require.NoError(t, rows.Err())

	ratio := func(a, b int) *float64 { f := float64(a) / float64(b); return &f }
	want := map[string]row{
		// Day A: 10 clean, 4 incidents missing, 3 stale runs.
		"A default incidents/create_incident": {counts8{17, 13, 0, 4, 0, 0, 0, 0}, ratio(13, 17)},
		"A default policies/evaluate_policy":  {counts8{17, 17, 0, 0, 0, 0, 0, 0}, ratio(1, 1)},
		"A default logs/start_trace":          {counts8{17, 17, 0, 0, 0, 0, 0, 0}, ratio(1, 1)},
		"A default logs/complete_trace":       {counts8{17, 17, 0, 0, 0, 0, 0, 0}, ratio(1, 1)},
		"A default orchestrator/finalize_run": {counts8{17, 14, 0, 3, 0, 0, 0, 0}, ratio(14, 17)},
		// Day B: 2 failed, 2 failed then acked, 3 late, 3 invalid (counted
		// on their declaration day, one of them pending), acme's run.
		"B default incidents/create_incident": {counts8{7, 7, 0, 0, 0, 0, 0, 0}, ratio(1, 1)},
		"B default policies/evaluate_policy":  {counts8{7, 5, 0, 0, 2, 0, 0, 0}, ratio(5, 7)},
		"B default logs/start_trace":          {counts8{10, 9, 0, 0, 0, 1, 0, 3}, ratio(9, 10)},
		"B default logs/complete_trace":       {counts8{7, 4, 3, 0, 0, 0, 0, 0}, ratio(4, 7)},
		"B default orchestrator/finalize_run": {counts8{7, 7, 0, 0, 0, 0, 0, 0}, ratio(1, 1)},
		"B acme incidents/create_incident":    {counts8{1, 0, 0, 1, 0, 0, 0, 0}, ratio(0, 1)},
		"B acme policies/evaluate_policy":     {counts8{1, 0, 0, 1, 0, 0, 0, 0}, ratio(0, 1)},
		"B acme logs/start_trace":             {counts8{1, 0, 0, 1, 0, 0, 0, 0}, ratio(0, 1)},
		"B acme logs/complete_trace":          {counts8{1, 0, 0, 1, 0, 0, 0, 0}, ratio(0, 1)},
		"B acme orchestrator/finalize_run":    {counts8{1, 0, 0, 1, 0, 0, 0, 0}, ratio(0, 1)},
		// Day C: drift only, on the day of its ack; nothing was expected.
		"C default incidents/create_incident": {counts8{0, 0, 0, 0, 0, 0, 2, 0}, nil},
	}
	require.Equal(t, len(want), len(got), "rows: %v", keys(got))
	for k, w := range want {
		g, ok := got[k]
		require.True(t, ok, "no row %q", k)
		require.Equal(t, w.c, g.c, k)
		if w.completeness == nil {
			require.Nil(t, g.completeness, k)
		} else {
			require.NotNil(t, g.completeness, k)
			require.InDelta(t, *w.completeness, *g.completeness, 1e-15, k)
		}
	}
	require.Equal(t, map[string]counts8{
		"incidents/create_incident": {2, 2, 0, 0, 0, 0, 0, 0},
		"policies/evaluate_policy":  {2, 2, 0, 0, 0, 0, 0, 0},
		"logs/start_trace":          {2, 2, 0, 0, 0, 0, 0, 0},
		"logs/complete_trace":       {2, 0, 0, 0, 0, 2, 0, 0},
		"orchestrator/finalize_run": {2, 2, 0, 0, 0, 0, 0, 0},
	}, recent, "the runs declared now")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// historyRow is a row of rac.findings_history, for comparing.
type historyRow struct {
	Kind                 string
	Ref                  string
	Resolution           *string
	ResolvedAt           *time.Time
	ResolutionRecordedAt *time.Time
	ResolvedByAckID      *int64
	Actor, Reason        *string
	Open                 bool
}

func history(t *testing.T, b bundle, run uuid.UUID) []historyRow {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `
		SELECT kind, domain || '/' || action, resolution, resolved_at, resolution_recorded_at, resolved_by_ack_id,
		       actor, reason, open
		FROM rac.findings_history WHERE run_id = $1 ORDER BY kind`, run)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[historyRow])
	require.NoError(t, err)
	return out
}

func TestFindingsHistory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := seed(t, b)
	pass(t, b)

	openIDs := func(t *testing.T) (history, view []int64) {
		t.Helper()
		for sql, out := range map[string]*[]int64{
			`SELECT finding_id FROM rac.findings_history WHERE open ORDER BY 1`: &history,
			`SELECT finding_id FROM rac.open_findings ORDER BY 1`:               &view,
		} {
			rows, err := b.pool.Query(b.ctx, sql)
			require.NoError(t, err)
			*out, err = pgx.CollectRows(rows, pgx.RowTo[int64])
			require.NoError(t, err)
		}
		return history, view
	}

	t.Run("after a pass every finding is listed, unresolved", func(t *testing.T) {
		require.Equal(t, seededFindings, counts(t, b.pool, `SELECT kind, count(*) FROM rac.findings_history GROUP BY kind`))
		require.Zero(t, counts(t, b.pool, `SELECT 'resolved', count(*) FROM rac.findings_history WHERE resolution IS NOT NULL`)["resolved"])
		require.Equal(t, map[string]int{"false": 3, "true": 23}, counts(t, b.pool,
			`SELECT open::text, count(*) FROM rac.findings_history GROUP BY open`), "late findings are never open")
		h, v := openIDs(t)
		require.Equal(t, v, h, "open agrees with rac.open_findings")
		require.Equal(t, []historyRow{
			{Kind: "missing", Ref: "incidents/create_incident", Open: true},
		}, history(t, b, s.missing[0]))
	})

	t.Run("a late ack and a second pass resolve the finding", func(t *testing.T) {
		ackNow(t, b, s.missing[0], ledger.Incidents, ledger.CreateIncident)
		ackNow(t, b, s.stale[0], ledger.Orchestrator, ledger.FinalizeRun)
		sum := pass(t, b)
		require.Equal(t, 3, sum.ResolutionsRecorded, "missing, and missing + stale")

		var ackID int64
		var ackedAt time.Time
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT id, acked_at FROM rac.acks WHERE run_id = $1 AND error IS NULL
			AND action_id = (SELECT id FROM rac.contract_actions WHERE action = 'create_incident')`, s.missing[0]).Scan(&ackID, &ackedAt))

		got := history(t, b, s.missing[0])
		require.Len(t, got, 2)
		late, missing := got[0], got[1]
		require.Equal(t, historyRow{Kind: "late", Ref: "incidents/create_incident"}, late, "late is history: no resolution, never open")
		require.Equal(t, "missing", missing.Kind)
		require.False(t, missing.Open)
		require.Equal(t, "acked", *missing.Resolution)
		require.Equal(t, ackID, *missing.ResolvedByAckID)
		require.True(t, ackedAt.Equal(*missing.ResolvedAt), "resolved when the ack was written")
		require.False(t, missing.ResolutionRecordedAt.Before(*missing.ResolvedAt), "recorded after")
		require.Nil(t, missing.Actor)
		require.Nil(t, missing.Reason)

		kinds := func(rows []historyRow) (out []string) {
			for _, r := range rows {
				out = append(out, fmt.Sprintf("%s:%s:%v", r.Kind, deref(r.Resolution), r.Open))
			}
			return out
		}
		require.Equal(t, []string{"late::false", "missing:acked:false", "stale:acked:false"}, kinds(history(t, b, s.stale[0])))

		h, v := openIDs(t)
		require.Equal(t, v, h, "open agrees with rac.open_findings")
		require.Len(t, h, 23-3)
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// planNode is the part of EXPLAIN (FORMAT JSON) the index check reads.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

func (n planNode) walk(f func(planNode)) {
	f(n)
	for _, c := range n.Plans {
		c.walk(f)
	}
}

// scans returns "relation:node type" for every scan of a ledger table and
// "node type:index" for every index scan in the plan of sql.
func scans(t *testing.T, b bundle, sql string) []string {
	t.Helper()
	var raw []byte
	require.NoError(t, b.pool.QueryRow(b.ctx, `EXPLAIN (FORMAT JSON) `+sql).Scan(&raw))
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal(raw, &plans))
	var out []string
	plans[0].Plan.walk(func(n planNode) {
		switch {
		case n.Index != "": // a Bitmap Index Scan names no relation
			out = append(out, n.NodeType+":"+n.Index)
		case slices.Contains([]string{"expectations", "acks", "findings", "finding_resolutions"}, n.Relation):
			out = append(out, n.Relation+":"+n.NodeType)
		}
	})
	slices.Sort(out)
	return out
}

// On a ledger of 100,000 expectations, reading one run (or a few) from the
// report views goes through the unique indexes that lead with run_id, and
// never scans a table.
func TestReportViewsReadOneRunByIndex(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO rac.expectations (run_id, action_id, declared_at, deadline_ms, deadline_at)
		SELECT r.id, c.id, now() - interval '2 hours', 3600000, now() - interval '1 hour'
		FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, 20000)) r CROSS JOIN rac.contract_actions c;
		INSERT INTO rac.acks (run_id, action_id, acked_at, error)
		SELECT e.run_id, e.action_id, now() - interval '90 minutes', CASE WHEN e.id % 13 = 0 THEN 'boom' END
		FROM rac.expectations e WHERE e.id % 7 <> 0;
		INSERT INTO rac.acks (run_id, action_id) SELECT gen_random_uuid(), 1 FROM generate_series(1, 1000);
		INSERT INTO rac.findings (reconciliation_id, violated_at, run_id, tenant_id, action_id, kind)
		SELECT 1, e.deadline_at, e.run_id, e.tenant_id, e.action_id, 'missing' FROM rac.expectations e WHERE e.id % 7 = 0;
		INSERT INTO rac.finding_resolutions (finding_id, tenant_id, resolution, resolved_at, actor, reason)
		SELECT f.id, f.tenant_id, 'waived', now(), 'auditor', 'test' FROM rac.findings f WHERE f.id % 2 = 0;
		ANALYZE rac.expectations, rac.acks, rac.findings, rac.finding_resolutions`)
	require.NoError(t, err)
	var run, other uuid.UUID
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT run_id FROM rac.expectations WHERE id = 7000`).Scan(&run))
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT run_id FROM rac.expectations WHERE id = 9001`).Scan(&other))

	for _, where := range []string{
		fmt.Sprintf("run_id = '%s'", run),
		fmt.Sprintf("run_id IN ('%s', '%s')", run, other),
		fmt.Sprintf("tenant_id = 'default' AND run_id = '%s' AND domain = 'logs'", run),
	} {
		t.Run("action_status where "+where, func(t *testing.T) {
			got := strings.Join(scans(t, b, `SELECT * FROM rac.action_status WHERE `+where), " ")
			require.NotContains(t, got, "Seq Scan")
			require.Contains(t, got, "expectations_run_action_key")
			require.Contains(t, got, "acks_idempotency_key")
		})
	}
	t.Run("findings_history by run", func(t *testing.T) {
		got := scans(t, b, fmt.Sprintf(`SELECT * FROM rac.findings_history WHERE run_id = '%s'`, run))
		require.NotContains(t, strings.Join(got, " "), "Seq Scan")
		require.Contains(t, strings.Join(got, " "), "findings_once")
	})
	t.Run("the status rules are inlined, not called per row", func(t *testing.T) {
		rows, err := b.pool.Query(b.ctx, fmt.Sprintf(`EXPLAIN VERBOSE SELECT * FROM rac.action_status WHERE run_id = '%s'`, run))
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		plan := strings.Join(lines, "\n")
		require.NotContains(t, plan, "action_state(")
		require.Contains(t, plan, "CASE WHEN")
	})
	t.Run("and the answer is right", func(t *testing.T) {
		got := counts(t, b.pool, `SELECT status, count(*) FROM rac.action_status WHERE run_id = ANY($1) GROUP BY status`,
			[]uuid.UUID{run, other})
		want := counts(t, b.pool, `
			SELECT CASE WHEN a.id IS NULL THEN 'missing' WHEN a.error IS NOT NULL THEN 'failed' ELSE 'acked' END, count(*)
			FROM rac.expectations e LEFT JOIN rac.acks a USING (run_id, tenant_id, action_id)
			WHERE e.run_id = ANY($1) GROUP BY 1`, []uuid.UUID{run, other})
		require.Equal(t, want, got)
	})
}
