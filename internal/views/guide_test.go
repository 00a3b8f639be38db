package views_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/ledgertest"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/internal/seal"
	"github.com/racledger/racledger/ledger"
)

const guidePath = "../../docs/auditor-guide.md"

// guideRunID is the placeholder run id of the guide's queries.
const guideRunID = "00000000-0000-0000-0000-000000000000"

// block is one ```sql block of the guide, with the heading it stands under
// and the prose between it and the previous block.
type block struct {
	heading, prose, sql string
}

func guideBlocks(t *testing.T) []block {
	t.Helper()
	f, err := os.Open(guidePath)
	require.NoError(t, err)
	defer f.Close()
	var out []block
	var heading string
	var prose, sql strings.Builder
	inSQL := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case inSQL && strings.HasPrefix(line, "```"):
			out = append(out, block{heading: heading, prose: prose.String(), sql: sql.String()})
			prose.Reset()
			sql.Reset()
			inSQL = false
		case inSQL:
			sql.WriteString(line + "\n")
		case line == "```sql":
			inSQL = true
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
			prose.Reset()
		default:
			prose.WriteString(line + "\n")
		}
	}
	require.NoError(t, sc.Err())
	require.False(t, inSQL, "unterminated sql block")
	return out
}

// querier is what both a pgx.Tx and a pgx.Conn offer.
type querier interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// runBlock runs one block in a transaction it rolls back (a SET stays inside),
// with the placeholder run id replaced, and returns its rows with numeric
// values as float64 and intervals as time.Duration. A block holding more
// than one statement fails: the extended protocol takes one.
func runBlock(t *testing.T, db querier, b block, runID uuid.UUID) ([]map[string]any, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, strings.ReplaceAll(b.sql, guideRunID, runID.String()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		values, err := rows.Values()
		if err != nil {
			return nil, err
		}
		row := map[string]any{}
		for i, fd := range rows.FieldDescriptions() {
			row[fd.Name] = normalize(t, values[i])
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

func normalize(t *testing.T, v any) any {
	switch v := v.(type) {
	case pgtype.Numeric:
		if !v.Valid {
			return nil
		}
		f, err := v.Float64Value()
		require.NoError(t, err)
		return f.Float64
	case pgtype.Interval:
		require.Zero(t, v.Months, "intervals here are exact")
		return time.Duration(v.Days)*24*time.Hour + time.Duration(v.Microseconds)*time.Microsecond
	case [16]byte:
		return uuid.UUID(v)
	}
	return v
}

// guideState is the seeded scenario after a pass, a waiver of one failed
// policy evaluation, a late incident for one missing run, and a second
// pass.
func guideState(t *testing.T) (bundle, scenario) {
	t.Helper()
	b := setup(t)
	s := seed(t, b)
	pass(t, b)
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO rac.finding_resolutions (finding_id, tenant_id, resolution, resolved_at, actor, reason)
		SELECT f.id, f.tenant_id, 'waived', clock_timestamp(), 'alice@example.com', 'policy engine outage, INC-7'
		FROM rac.findings f WHERE f.run_id = $1 AND f.kind = 'failed'`, s.failed[0])
	require.NoError(t, err)
	ackNow(t, b, s.missing[0], ledger.Incidents, ledger.CreateIncident)
	sum := pass(t, b)
	require.Equal(t, 1, sum.ResolutionsRecorded)
	// Seal it all, for the guide's integrity check.
	pgtest.WaitFinal(t, b.pool)
	sealed, err := seal.Seal(b.ctx, b.pool)
	require.NoError(t, err)
	require.True(t, sealed.Sealed)
	return b, s
}

// Every query of docs/auditor-guide.md runs against the scenario, and the
// main ones return its numbers.
func TestAuditorGuide(t *testing.T) {
	t.Parallel()
	b, s := guideState(t)
	blocks := guideBlocks(t)
	story := s.missing[0] // missing, acked late, resolved

	all := make([][]map[string]any, len(blocks))
	results := map[string][][]map[string]any{} // by heading
	for i, bl := range blocks {
		rows, err := runBlock(t, b.pool, bl, story)
		require.NoError(t, err, "block %d under %q:\n%s", i, bl.heading, bl.sql)
		all[i] = rows
		results[bl.heading] = append(results[bl.heading], rows)
	}
	under := func(t *testing.T, heading string) [][]map[string]any {
		t.Helper()
		r, ok := results[heading]
		require.True(t, ok, "no sql block under the heading %q in %s", heading, guidePath)
		return r
	}

	t.Run("the seal chain", func(t *testing.T) {
		rows := under(t, "Is the history intact?")[0]
		require.Len(t, rows, 1)
		require.EqualValues(t, 1, rows[0]["id"])
		require.Regexp(t, `^[0-9a-f]{64}$`, rows[0]["seal_hash"])
	})

	t.Run("runs that violated their contract last quarter", func(t *testing.T) {
		rows := under(t, "Which runs violated their contract last quarter")[0]
		got := map[uuid.UUID]string{}
		for _, r := range rows {
			got[r["run_id"].(uuid.UUID)] = r["tenant"].(string) + " " + r["kinds"].(string) + " " +
				map[bool]string{true: "open", false: "closed"}[r["still_open"].(bool)]
		}
		want := map[uuid.UUID]string{
			s.missing[0]: "default missing closed", // its late finding is of this quarter
			s.failed[0]:  "default failed closed",  // waived
			s.failed[1]:  "default failed open",
			s.acme:       "acme missing, stale open",
		}
		for _, r := range s.missing[1:] {
			want[r] = "default missing open"
		}
		for _, r := range s.stale {
			want[r] = "default missing, stale open"
		}
		for _, r := range s.late {
			want[r] = "default late closed"
		}
		for _, r := range s.invalid {
			want[r] = "default invalid open"
		}
		for _, r := range s.drift {
			want[r] = "default drift open"
		}
		require.Equal(t, want, got)
		require.Len(t, rows, 18)
	})

	t.Run("completeness per domain and day", func(t *testing.T) {
		rows := under(t, "How complete was each domain per day")[0]
		got := map[string][]any{}
		for _, r := range rows {
			day := r["day"].(time.Time)
			label := map[time.Time]string{s.dayA: "A", s.dayB: "B", s.dayC: "C"}[day]
			if label == "" {
				continue // the runs declared now
			}
			got[label+" "+r["tenant"].(string)+" "+r["domain"].(string)] = []any{
				r["expected"], r["acked_on_time"], r["late"], r["missing"], r["failed"], r["pending"], r["drift"], r["completeness"]}
		}
		require.Len(t, got, 13, "A: 4 domains; B: 4 domains of 2 tenants; C: drift")
		require.Equal(t, []any{17.0, 13.0, 1.0, 3.0, 0.0, 0.0, 0.0, 0.7647}, got["A default incidents"], "13/17, one acked late since")
		require.Equal(t, []any{34.0, 34.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0}, got["A default logs"])
		require.Equal(t, []any{17.0, 14.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.8235}, got["A default orchestrator"])
		require.Equal(t, []any{7.0, 5.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.7143}, got["B default policies"])
		require.Equal(t, []any{17.0, 13.0, 3.0, 0.0, 0.0, 1.0, 0.0, 0.7647}, got["B default logs"], "start_trace 9/10, complete_trace 4/7")
		require.Equal(t, []any{1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0}, got["B acme orchestrator"])
		require.Equal(t, []any{0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, nil}, got["C default incidents"], "drift only: no rate")
	})

	t.Run("waived findings and by whom", func(t *testing.T) {
		rows := under(t, "Which findings were waived, and by whom")[0]
		require.Len(t, rows, 1)
		r := rows[0]
		require.Equal(t, "alice@example.com", r["waived_by"])
		require.Equal(t, "policy engine outage, INC-7", r["reason"])
		require.Equal(t, s.failed[0], r["run_id"])
		require.Equal(t, []any{"default", "policies", "evaluate_policy", "failed"},
			[]any{r["tenant"], r["domain"], r["action"], r["kind"]})
	})

	t.Run("how late the late acks were", func(t *testing.T) {
		rows := under(t, "How late were the late acks")[0]
		require.Len(t, rows, 2, "the traces completed late, and the incident acked late")
		trace := rows[1]
		require.Equal(t, "incidents", rows[0]["domain"])
		require.Equal(t, map[string]any{
			"tenant": "default", "domain": "logs", "action": "complete_trace", "late_acks": int64(3),
			"min_lateness": 10 * time.Minute, "median_lateness": 20 * time.Minute,
			"p95_lateness": 56 * time.Minute, "max_lateness": 60 * time.Minute,
		}, trace)
	})

	t.Run("open findings by kind and age", func(t *testing.T) {
		rows := under(t, "Open findings by kind and age")[0]
		got := map[string][]int64{}
		for _, r := range rows {
			got[r["kind"].(string)] = []int64{r["open_findings"].(int64), r["under_1_day"].(int64),
				r["days_1_to_7"].(int64), r["days_7_to_30"].(int64), r["over_30_days"].(int64)}
		}
		// Every fixture day lies in the previous quarter: over 30 days ago.
		require.Equal(t, map[string][]int64{
			"drift":   {2, 0, 0, 0, 2},
			"failed":  {1, 0, 0, 0, 1}, // one waived
			"invalid": {3, 0, 0, 0, 3},
			"missing": {11, 0, 0, 0, 11}, // one acked late
			"stale":   {4, 0, 0, 0, 4},
		}, got)
		var open int64
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM rac.open_findings`).Scan(&open))
		require.Equal(t, int64(2+1+3+11+4), open)
	})

	t.Run("a run's full story", func(t *testing.T) {
		stories := under(t, "A run's full story")
		require.Len(t, stories, 2)
		var statuses []string
		for _, r := range stories[0] {
			statuses = append(statuses, r["domain"].(string)+"/"+r["action"].(string)+":"+r["status"].(string))
		}
		require.Equal(t, []string{
			"incidents/create_incident:late", "logs/complete_trace:acked", "logs/start_trace:acked",
			"orchestrator/finalize_run:acked", "policies/evaluate_policy:acked",
		}, statuses)

		var events []string
		for _, r := range stories[1] {
			events = append(events, r["event"].(string))
		}
		require.Equal(t, []string{
			"declared", "declared", "declared", "declared", "declared",
			"acked", "acked", "acked", "acked",
			"violated: missing", // at the deadline
			"verdict: violated", // the first pass
			"acked",             // the late incident, and at that same time:
			"violated: late",
			"resolved: missing acked",
			"verdict: clean", // the second pass
		}, events)
		for _, r := range stories[1] {
			if r["event"] == "resolved: missing acked" {
				require.Regexp(t, `^evidence: ack \d+ of .*, recorded `, r["detail"])
			}
		}
	})

	t.Run("false alarms and late actions", func(t *testing.T) {
		rows := under(t, "False alarms and late actions")[0]
		got := map[uuid.UUID]string{}
		for _, r := range rows {
			got[r["run_id"].(uuid.UUID)] = r["kind"].(string) + " " + r["resolution"].(string) + ": " + r["meaning"].(string)
		}
		require.Equal(t, map[uuid.UUID]string{
			s.missing[0]: "missing acked: late action: done after the violation began",
			s.failed[0]:  "failed waived: waived by alice@example.com: policy engine outage, INC-7",
		}, got)
		for _, r := range rows {
			if r["resolution"] == "acked" {
				require.Equal(t, "acks", r["evidence_table"])
				require.Equal(t, r["evidence_at"], r["resolved_at"])
			} else {
				require.Nil(t, r["evidence_table"], "a waiver has no evidence row")
			}
		}
	})

	t.Run("as rac_auditor", func(t *testing.T) {
		conn := loginAsAuditor(t, b, "*")
		rel := regexp.MustCompile(`\brac\.[a-z_]+`)
		for i, bl := range blocks {
			var denied []string
			for _, name := range slices.Compact(slices.Sorted(slices.Values(rel.FindAllString(bl.sql, -1)))) {
				var ok bool
				require.NoError(t, b.pool.QueryRow(b.ctx, `
					SELECT to_regclass($1) IS NULL -- a setting such as rac.grace
					    OR has_table_privilege('rac_auditor', to_regclass($1), 'SELECT')`, name).Scan(&ok))
				if !ok {
					denied = append(denied, name)
				}
			}
			rows, err := runBlock(t, conn, bl, story)
			if len(denied) == 0 {
				require.NoError(t, err, "block %d under %q", i, bl.heading)
				require.Len(t, rows, len(all[i]), "block %d under %q: as many rows as for the owner", i, bl.heading)
				continue
			}
			var pgErr *pgconn.PgError
			require.True(t, errors.As(err, &pgErr) && pgErr.Code == "42501",
				"block %d under %q reads %v: want permission denied, got %v", i, bl.heading, denied, err)
			require.Contains(t, bl.prose, "not granted to rac_auditor",
				"block %d under %q reads %v: the guide must say so", i, bl.heading, denied)
		}
	})
}

// The guide's queries tell a false alarm from a late action: an incident
// acked in time by a domain transaction that committed after a pass found
// it missing (retracted), one acked late the same way (acked, and late),
// and a false alarm as reconcilers before migration 00008 recorded it (an
// acked resolution before the violation).
func TestAuditorGuideFalseAlarms(t *testing.T) {
	t.Parallel()
	b := setup(t)
	blocks := map[string][]block{}
	for _, bl := range guideBlocks(t) {
		blocks[bl.heading] = append(blocks[bl.heading], bl)
	}
	day := previousQuarter(time.Now()).AddDate(0, 0, 20)
	at := func(hour, minute int) time.Time {
		return day.Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
	}
	falseAlarm, lateRun, legacy := uuid.New(), uuid.New(), uuid.New()

	domain := ledgertest.BeginDomainTx(t, b.pool) // below the declarations: they are not final while it is open
	for _, run := range []uuid.UUID{falseAlarm, lateRun} {
		declareRunAt(t, b, defaultTenant, run, at(10, 0), time.Hour)
		ackAllAt(t, b, run, at(10, 30), ledger.CreateIncident)
	}
	ledgertest.Ack(t, domain, falseAlarm, ledger.Incidents, ledger.CreateIncident, "", at(10, 30))
	ledgertest.Ack(t, domain, lateRun, ledger.Incidents, ledger.CreateIncident, "", at(12, 0))
	_, err := b.rec.RunOnce(b.ctx) // records both incidents missing
	require.NoError(t, err)
	require.NoError(t, domain.Commit(b.ctx))
	sum := pass(t, b)
	require.Equal(t, map[string]int{"retracted": 1, "acked": 1}, sum.ResolutionsByKind)

	declareRunAt(t, b, defaultTenant, legacy, at(10, 0), time.Hour)
	ackAllAt(t, b, legacy, at(10, 30))
	_, err = b.pool.Exec(b.ctx, `
		WITH f AS (
		    INSERT INTO rac.findings (reconciliation_id, run_id, tenant_id, action_id, kind, violated_at)
		    SELECT (SELECT max(id) FROM rac.reconciliations), a.run_id, a.tenant_id, a.action_id, 'missing', $2
		    FROM rac.acks a JOIN rac.contract_actions c ON c.id = a.action_id
		    WHERE a.run_id = $1 AND c.action = 'create_incident'
		    RETURNING id, tenant_id
		)
		INSERT INTO rac.finding_resolutions (finding_id, tenant_id, resolution, resolved_at, ack_id)
		SELECT f.id, f.tenant_id, 'acked', a.acked_at, a.id
		FROM f, rac.acks a JOIN rac.contract_actions c ON c.id = a.action_id
		WHERE a.run_id = $1 AND c.action = 'create_incident'`, legacy, at(11, 0))
	require.NoError(t, err)

	run := func(heading string, i int, runID uuid.UUID) []map[string]any {
		t.Helper()
		require.Greater(t, len(blocks[heading]), i, "no sql block %d under %q", i, heading)
		rows, err := runBlock(t, b.pool, blocks[heading][i], runID)
		require.NoError(t, err, heading)
		return rows
	}

	t.Run("the runs that violated their contract leave out findings that never held", func(t *testing.T) {
		rows := run("Which runs violated their contract last quarter", 0, uuid.Nil)
		require.Len(t, rows, 1)
		require.Equal(t, lateRun, rows[0]["run_id"])
		require.Equal(t, "late, missing", rows[0]["kinds"])
		require.Equal(t, false, rows[0]["still_open"])
	})

	t.Run("each closed finding says what its resolution means", func(t *testing.T) {
		rows := run("False alarms and late actions", 0, uuid.Nil)
		got := map[uuid.UUID]string{}
		for _, r := range rows {
			got[r["run_id"].(uuid.UUID)] = r["kind"].(string) + " " + r["resolution"].(string) + ": " + r["meaning"].(string)
			require.Equal(t, "acks", r["evidence_table"])
		}
		require.Equal(t, map[uuid.UUID]string{
			falseAlarm: "missing retracted: false alarm: the evidence was written in time and committed late",
			lateRun:    "missing acked: late action: done after the violation began",
			legacy:     "missing acked: false alarm: an ack written in time and committed late (recorded before migration 00008)",
		}, got)
		for _, r := range rows {
			switch r["run_id"] {
			case falseAlarm:
				require.Equal(t, r["violated_at"], r["resolved_at"], "it never held")
				require.Equal(t, at(10, 30), r["evidence_at"].(time.Time).UTC())
			case lateRun:
				require.Equal(t, at(12, 0), r["resolved_at"].(time.Time).UTC())
			}
		}
	})

	t.Run("a false alarm's story shows the violation and its retraction at the deadline", func(t *testing.T) {
		rows := run("A run's full story", 1, falseAlarm)
		var events []string
		for _, r := range rows {
			events = append(events, r["event"].(string))
			if r["event"] == "resolved: missing retracted" {
				require.Equal(t, at(11, 0), r["at"].(time.Time).UTC())
				require.Regexp(t, `^evidence: ack \d+ of .*, recorded `, r["detail"])
			}
		}
		require.Equal(t, []string{
			"declared", "declared", "declared", "declared", "declared",
			"acked", "acked", "acked", "acked", "acked", // the incident's among them, in time
			"violated: missing", "resolved: missing retracted", // both at the deadline
			"verdict: violated", // the pass that ran before the incident's ack committed
			"verdict: clean",
		}, events)
	})
}

// loginAsAuditor connects to b's database as a new login role (a unique
// name, dropped when the test ends) that is a member of rac_auditor and
// nothing else, mapped in rac.tenant_roles to the named tenants ("*": every
// tenant; none: unmapped, so it sees the tenant rac.tenant names, default
// when unset).
func loginAsAuditor(t *testing.T, b bundle, tenants ...string) *pgx.Conn {
	t.Helper()
	var exists bool
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rac_auditor')`).Scan(&exists))
	require.True(t, exists, "the migrations create rac_auditor")

	u, name := pgtest.LoginRole(t, b.db, "rac_auditor")
	for _, tenant := range tenants {
		_, err := b.pool.Exec(b.ctx, `
			INSERT INTO rac.tenant_roles (role_name, tenant_id)
			VALUES ($1, (SELECT id FROM rac.tenants WHERE name = $2 AND $2 <> '*'))`, name, tenant)
		require.NoError(t, err)
	}

	conn, err := pgx.Connect(b.ctx, u)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// A member of rac_auditor reads the report views of its tenants and
// nothing else.
func TestAuditorRole(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := seed(t, b)
	pass(t, b)
	views := []string{"rac.action_status", "rac.findings_history", "rac.daily_summary", "rac.open_findings", "rac.run_status"}
	ownerCount := func(view, tenant string) int {
		var n int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM `+view+` WHERE tenant_id = $1 OR $1 = '*'`, tenant).Scan(&n))
		return n
	}

	t.Run("mapped to every tenant, it sees what the owner sees", func(t *testing.T) {
		conn := loginAsAuditor(t, b, "*")
		for view, want := range map[string]int{
			"rac.action_status":    140,
			"rac.findings_history": 26,
			"rac.daily_summary":    5 + 5 + 5 + 1 + 5, // A, B, B of acme, C, and the runs due in an hour (two days near midnight)
		} {
			var n int
			require.NoError(t, conn.QueryRow(b.ctx, `SELECT count(*) FROM `+view).Scan(&n), view)
			if view == "rac.daily_summary" {
				require.Contains(t, []int{want, want + 5}, n, view)
				continue
			}
			require.Equal(t, want, n, view)
		}
		for _, view := range views {
			var n int
			require.NoError(t, conn.QueryRow(b.ctx, `SELECT count(*) FROM `+view).Scan(&n), view)
			require.Equal(t, ownerCount(view, "*"), n, view)
		}
	})

	t.Run("unmapped, it sees the tenant it names, default when it names none", func(t *testing.T) {
		conn := loginAsAuditor(t, b)
		for _, tenant := range []string{"default", acme} {
			_, err := conn.Exec(b.ctx, `SELECT set_config('rac.tenant', $1, false)`, tenant)
			require.NoError(t, err)
			for _, view := range views {
				var n, others int
				require.NoError(t, conn.QueryRow(b.ctx, `SELECT count(*), count(*) FILTER (WHERE tenant_id <> $1) FROM `+view, tenant).
					Scan(&n, &others), view)
				require.Zero(t, others, "%s as %s", view, tenant)
				require.Equal(t, ownerCount(view, tenant), n, "%s as %s", view, tenant)
			}
		}
		require.Positive(t, ownerCount("rac.open_findings", acme), "the scenario has open findings in acme")
		_, err := conn.Exec(b.ctx, `RESET rac.tenant`)
		require.NoError(t, err)
		var n int
		require.NoError(t, conn.QueryRow(b.ctx, `SELECT count(*) FROM rac.action_status WHERE tenant_id <> 'default'`).Scan(&n))
		require.Zero(t, n)
	})

	t.Run("mapped to acme, it may not name default", func(t *testing.T) {
		conn := loginAsAuditor(t, b, acme)
		var n int
		require.NoError(t, conn.QueryRow(b.ctx, `SELECT count(*) FROM rac.action_status WHERE tenant_id <> $1`, acme).Scan(&n))
		require.Zero(t, n)
		require.NoError(t, conn.QueryRow(b.ctx, `SELECT count(*) FROM rac.action_status`).Scan(&n))
		require.Equal(t, ownerCount("rac.action_status", acme), n)
		_, err := conn.Exec(b.ctx, `SET rac.tenant = 'default'`)
		require.NoError(t, err)
		_, err = conn.Exec(b.ctx, `SELECT count(*) FROM rac.action_status`)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr) && pgErr.Code == "RC111", "want RC111, got %v", err)
	})

	conn := loginAsAuditor(t, b, "*")
	var status string
	require.NoError(t, conn.QueryRow(b.ctx, `SELECT status FROM rac.action_status WHERE run_id = $1 AND action = 'create_incident'`,
		s.missing[0]).Scan(&status))
	require.Equal(t, "missing", status)

	for _, table := range []string{"rac.expectations", "rac.acks", "rac.findings", "rac.finding_resolutions", "rac.run_verdicts"} {
		_, err := conn.Exec(b.ctx, `SELECT count(*) FROM `+table)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr) && pgErr.Code == "42501", "%s: want permission denied, got %v", table, err)
	}
	_, err := conn.Exec(b.ctx, `INSERT INTO rac.acks (run_id, action_id) VALUES (gen_random_uuid(), 1)`)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr) && pgErr.Code == "42501", "insert: got %v", err)
}
