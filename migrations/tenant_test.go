package migrations_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

const codeTenantDenied = "RC111"

// tenants is two tenants, a and b, each with a service role pinned to it
// by rac.tenant_roles, and a run declared and acked by each service.
type tenants struct {
	b               bundle
	a, bID          int16
	svcA, svcB      *pgxpool.Pool
	svcAName        string
	runA, runB      uuid.UUID
	unacked         uuid.UUID // a run of b whose deadline has passed
	stateOf         func(tenant string, run uuid.UUID) []string
	ackRowsInTenant func(tenant string, run uuid.UUID) int
}

func setupTenants(t *testing.T) tenants {
	t.Helper()
	b := setup(t)
	var ts tenants
	ts.b = b
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		WITH ins AS (INSERT INTO rac.tenants (name) VALUES ('a'), ('b') RETURNING id, name)
		SELECT (SELECT id FROM ins WHERE name = 'a'), (SELECT id FROM ins WHERE name = 'b')`).Scan(&ts.a, &ts.bID))

	pinned := func(tenant string) (*pgxpool.Pool, string) {
		pool, name := loginRole(t, b, "rac_writer")
		_, err := b.pool.Exec(b.ctx, `INSERT INTO rac.tenant_roles (role_name, tenant_id) SELECT $1, id FROM rac.tenants WHERE name = $2`,
			name, tenant)
		require.NoError(t, err)
		return pool, name
	}
	ts.svcA, ts.svcAName = pinned("a")
	ts.svcB, _ = pinned("b")

	ts.runA, ts.runB, ts.unacked = uuid.New(), uuid.New(), uuid.New()
	require.True(t, written(t, ts.svcA, `SELECT rac.expect($1, `+incidentsCreate+`, interval '1 hour')`, ts.runA))
	require.True(t, written(t, ts.svcA, `SELECT rac.ack($1, `+incidentsCreate+`, 'inc-a')`, ts.runA))
	require.True(t, written(t, ts.svcB, `SELECT rac.expect($1, `+incidentsCreate+`, interval '1 hour')`, ts.runB))
	require.True(t, written(t, ts.svcB, `SELECT rac.ack($1, `+incidentsCreate+`, 'inc-b')`, ts.runB))
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO rac.expectations (tenant_id, run_id, action_id, declared_at, deadline_ms, deadline_at)
		SELECT $2, $1, c.id, clock_timestamp() - interval '1 hour', 1000, clock_timestamp() - interval '1 hour' + interval '1 s'
		FROM rac.contract_actions c WHERE c.domain = 'incidents' AND c.action = 'create_incident'`, ts.unacked, ts.bID)
	require.NoError(t, err)

	// As the owner (a superuser: every tenant), by name.
	ts.stateOf = func(tenant string, run uuid.UUID) []string {
		return strs(t, b.pool, `SELECT domain || '/' || action || ':' || status FROM rac.action_status
			WHERE tenant_id = $1 AND run_id = $2 ORDER BY 1`, tenant, run)
	}
	ts.ackRowsInTenant = func(tenant string, run uuid.UUID) int {
		return count(t, b.pool, `SELECT count(*) FROM rac.acks a JOIN rac.tenants t ON t.id = a.tenant_id
			WHERE t.name = $1 AND a.run_id = $2`, tenant, run)
	}
	return ts
}

// Tenant A cannot see or ack tenant B's runs, through the views, the write
// functions or the tables themselves.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	ts := setupTenants(t)
	b := ts.b
	require.Equal(t, 1, ts.ackRowsInTenant("a", ts.runA))
	require.Equal(t, 1, ts.ackRowsInTenant("b", ts.runB))

	t.Run("a pinned writer writes to its tenant without naming it", func(t *testing.T) {
		require.Equal(t, int(ts.a), count(t, ts.svcA, `SELECT rac.current_tenant()`))
		require.Equal(t, int(ts.bID), count(t, ts.svcB, `SELECT rac.current_tenant()`))
	})

	t.Run("a pinned writer may not name another tenant", func(t *testing.T) {
		conn, err := ts.svcA.Acquire(b.ctx)
		require.NoError(t, err)
		defer conn.Release()
		for _, setting := range []string{"b", "default"} {
			_, err = conn.Exec(b.ctx, `SELECT set_config('rac.tenant', $1, false)`, setting)
			require.NoError(t, err)
			for _, sql := range []string{
				`SELECT rac.ack($1, ` + incidentsCreate + `, 'forged')`,
				`SELECT rac.expect($1, ` + incidentsCreate + `, interval '1 hour')`,
			} {
				_, err := conn.Exec(b.ctx, sql, ts.runB)
				pgErr := pgError(t, err)
				require.Equal(t, codeTenantDenied, pgErr.Code, "%s as %s", sql, setting)
				require.Contains(t, pgErr.Message, ts.svcAName)
			}
		}
		_, err = conn.Exec(b.ctx, `SELECT set_config('rac.tenant', 'a', false)`)
		require.NoError(t, err)
		require.Equal(t, int(ts.a), count(t, conn, `SELECT rac.current_tenant()`), "naming its own tenant is fine")
		_, err = conn.Exec(b.ctx, `RESET rac.tenant`)
		require.NoError(t, err)
		require.Equal(t, 1, ts.ackRowsInTenant("b", ts.runB), "nothing was written to b")
	})

	t.Run("acking b's run from a lands in a, as drift, and leaves b untouched", func(t *testing.T) {
		before := ts.stateOf("b", ts.runB)
		require.Equal(t, []string{"incidents/create_incident:acked"}, before)
		require.True(t, written(t, ts.svcA, `SELECT rac.ack($1, 'policies', 'evaluate_policy', 'forged')`, ts.runB))
		require.True(t, written(t, ts.svcA, `SELECT rac.ack($1, `+incidentsCreate+`)`, ts.unacked))
		require.Equal(t, before, ts.stateOf("b", ts.runB))
		require.Equal(t, []string{"incidents/create_incident:missing"}, ts.stateOf("b", ts.unacked), "b's missing action stays missing")
		require.Equal(t, []string{"policies/evaluate_policy:drift"}, ts.stateOf("a", ts.runB))
		require.Equal(t, 1, ts.ackRowsInTenant("b", ts.runB))
	})

	t.Run("an auditor pinned to a sees a only", func(t *testing.T) {
		auditor, name := loginRole(t, b, "rac_auditor")
		_, err := b.pool.Exec(b.ctx, `INSERT INTO rac.tenant_roles (role_name, tenant_id) VALUES ($1, $2)`, name, ts.a)
		require.NoError(t, err)
		for _, view := range []string{"rac.action_status", "rac.daily_summary", "rac.findings_history", "rac.open_findings", "rac.run_status"} {
			require.Zero(t, count(t, auditor, `SELECT count(*) FROM `+view+` WHERE tenant_id <> 'a'`), view)
		}
		require.Positive(t, count(t, auditor, `SELECT count(*) FROM rac.action_status WHERE run_id = $1`, ts.runA))
		// The evidence views of migration 00014 too; the locating hints,
		// which cover every tenant's rows, not at all.
		for _, view := range []string{"rac.audit_expectations", "rac.audit_acks", "rac.audit_findings",
			"rac.audit_resolutions", "rac.audit_verdicts"} {
			require.Zero(t, count(t, auditor, `SELECT count(*) FROM `+view+` WHERE tenant <> 'a'`), view)
		}
		require.Positive(t, count(t, auditor, `SELECT count(*) FROM rac.audit_expectations WHERE run_id = $1`, ts.runA))
		require.Equal(t, 1, count(t, auditor, `SELECT count(*) FROM rac.audit_tenants`))
		require.Equal(t, 1, count(t, auditor, `SELECT count(*) FROM rac.audit_tenants WHERE name = 'a'`))
		require.Zero(t, count(t, auditor, `SELECT count(*) FROM rac.audit_seal_chunks`))
		var whole bool
		require.NoError(t, auditor.QueryRow(b.ctx, `SELECT rac.sees_whole_ledger()`).Scan(&whole))
		require.False(t, whole)
		// b's runs appear only as the drift acks a wrote for them.
		for _, run := range []uuid.UUID{ts.runB, ts.unacked} {
			require.Equal(t, 1, count(t, auditor, `SELECT count(*) FROM rac.action_status WHERE run_id = $1`, run))
			require.Equal(t, 1, count(t, auditor, `SELECT count(*) FROM rac.action_status
				WHERE run_id = $1 AND tenant_id = 'a' AND status = 'drift'`, run))
		}
	})

	t.Run("a role with table privileges reads and writes only its tenant's rows", func(t *testing.T) {
		// A service using the Go library under its own role holds INSERT
		// and SELECT on the tables; row-level security confines it.
		svc, name := loginRole(t, b, "rac_writer")
		_, err := b.pool.Exec(b.ctx, `GRANT SELECT, INSERT ON rac.expectations, rac.acks TO `+quoteIdent(name)+`;
			GRANT SELECT ON rac.tenants, rac.contract_actions, rac.findings, rac.run_verdicts, rac.finding_resolutions TO `+quoteIdent(name))
		require.NoError(t, err)
		_, err = b.pool.Exec(b.ctx, `INSERT INTO rac.tenant_roles (role_name, tenant_id) VALUES ($1, $2)`, name, ts.a)
		require.NoError(t, err)

		require.Zero(t, count(t, svc, `SELECT count(*) FROM rac.acks WHERE tenant_id <> $1`, ts.a))
		require.Zero(t, count(t, svc, `SELECT count(*) FROM rac.expectations WHERE run_id = $1`, ts.runB))
		require.Equal(t, 1, count(t, svc, `SELECT count(*) FROM rac.expectations WHERE run_id = $1`, ts.runA))

		_, err = svc.Exec(b.ctx, `INSERT INTO rac.acks (tenant_id, run_id, action_id) VALUES ($1, $2, 1)`, ts.bID, ts.runB)
		pgErr := pgError(t, err)
		require.Equal(t, codeNoPrivilege, pgErr.Code, pgErr.Message)
		require.Contains(t, pgErr.Message, "row-level security")
		require.Equal(t, 1, ts.ackRowsInTenant("b", ts.runB))

		_, err = svc.Exec(b.ctx, `INSERT INTO rac.acks (tenant_id, run_id, action_id) VALUES ($1, $2, 1)`, ts.a, ts.runA)
		require.NoError(t, err)
		require.Equal(t, 2, ts.ackRowsInTenant("a", ts.runA))

		// The server's columns are the server's: no backdated ack, no
		// made-up transaction id (which would hide the row from the
		// reconciler and from sealing), no deadline off its declaration.
		for name, sql := range map[string]string{
			"backdated ack":      `INSERT INTO rac.acks (tenant_id, run_id, action_id, acked_at) VALUES ($1, $2, 1, now() - interval '1 hour')`,
			"future ack":         `INSERT INTO rac.acks (tenant_id, run_id, action_id, acked_at) VALUES ($1, $2, 1, now() + interval '1 hour')`,
			"ack tx_id below":    `INSERT INTO rac.acks (tenant_id, run_id, action_id, tx_id) VALUES ($1, $2, 1, 3)`,
			"ack tx_id above":    `INSERT INTO rac.acks (tenant_id, run_id, action_id, tx_id) VALUES ($1, $2, 1, 1000000000000)`,
			"backdated declared": `INSERT INTO rac.expectations (tenant_id, run_id, action_id, declared_at, deadline_ms, deadline_at) VALUES ($1, $2, 2, now() - interval '1 day', 1000, now() - interval '1 day' + interval '1 s')`,
			"stretched deadline": `INSERT INTO rac.expectations (tenant_id, run_id, action_id, declared_at, deadline_ms, deadline_at) VALUES ($1, $2, 2, clock_timestamp(), 1000, clock_timestamp() + interval '1 day')`,
		} {
			_, err := svc.Exec(b.ctx, sql, ts.a, uuid.New())
			pgErr := pgError(t, err)
			require.Equal(t, codeNoPrivilege, pgErr.Code, "%s: %s", name, pgErr.Message)
			require.Contains(t, pgErr.Message, "row-level security", name)
		}

		// The Go library's statements satisfy the policies: it writes its
		// tenant under the role's own privileges...
		run := uuid.New()
		la := ledger.New(ledger.Options{Tenant: "a"})
		require.NoError(t, la.Expect(b.ctx, svc, run, ledger.StandardRun(time.Hour)...))
		require.NoError(t, la.Ack(b.ctx, svc, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident, ResultID: "inc-1"}))
		e, a := rowsOf(t, b.pool, run)
		require.Equal(t, [2]int{5, 1}, [2]int{e, a})
		// ...and cannot write another's.
		lb := ledger.New(ledger.Options{Tenant: "b"})
		err = lb.Ack(b.ctx, svc, ledger.Ack{RunID: ts.runB, Domain: ledger.Incidents, Action: ledger.CreateIncident})
		require.Error(t, err)
		require.Equal(t, 1, ts.ackRowsInTenant("b", ts.runB))
	})

	t.Run("an unmapped role is scoped by rac.tenant, default when unset", func(t *testing.T) {
		auditor, _ := loginRole(t, b, "rac_auditor")
		conn, err := auditor.Acquire(b.ctx)
		require.NoError(t, err)
		defer conn.Release()
		require.Zero(t, count(t, conn, `SELECT count(*) FROM rac.action_status WHERE tenant_id <> 'default'`))
		_, err = conn.Exec(b.ctx, `SET rac.tenant = 'b'`)
		require.NoError(t, err)
		require.Equal(t, 2, count(t, conn, `SELECT count(*) FROM rac.action_status`), "b's two runs")
		require.Zero(t, count(t, conn, `SELECT count(*) FROM rac.action_status WHERE tenant_id <> 'b'`))
	})

	t.Run("a waiver of a cannot waive b's findings", func(t *testing.T) {
		pgtest.WaitFinal(t, b.pool)
		rec, err := reconciler.New(b.pool, reconciler.Options{})
		require.NoError(t, err)
		_, err = rec.RunOnce(b.ctx)
		require.NoError(t, err)
		var findingB int64
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT id FROM rac.findings WHERE run_id = $1 AND kind = 'missing'`, ts.unacked).
			Scan(&findingB))

		waiver, name := loginRole(t, b, "rac_waiver")
		_, err = b.pool.Exec(b.ctx, `INSERT INTO rac.tenant_roles (role_name, tenant_id) VALUES ($1, $2)`, name, ts.a)
		require.NoError(t, err)
		_, err = waiver.Exec(b.ctx, `SELECT rac.waive($1, 'not ours', 'mallory')`, findingB)
		require.Equal(t, "RC108", pgError(t, err).Code, "another tenant's finding does not exist for a")
		require.Zero(t, count(t, b.pool, `SELECT count(*) FROM rac.finding_resolutions WHERE finding_id = $1`, findingB))
	})
}

// The reconciler reconciles every tenant in one pass whatever rac.tenant
// says: its horizon is ledger-wide, so a pass that saw one tenant would
// certify the others' runs unseen.
func TestReconcilerSeesEveryTenant(t *testing.T) {
	t.Parallel()
	ts := setupTenants(t)
	b := ts.b
	recPool, recName := loginRole(t, b, "rac_reconciler")
	_, err := recPool.Exec(b.ctx, `SELECT 1`)
	require.NoError(t, err)
	cfg := recPool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["rac.tenant"] = "a"
	scoped, err := pgxpool.NewWithConfig(b.ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(scoped.Close)

	pgtest.WaitFinal(t, b.pool)
	rec, err := reconciler.New(scoped, reconciler.Options{Name: recName})
	require.NoError(t, err)
	_, err = rec.RunOnce(context.Background())
	require.NoError(t, err)
	require.Contains(t, strs(t, b.pool, `SELECT kind FROM rac.findings WHERE run_id = $1`, ts.unacked), "missing",
		"b's missing action was found by a reconciler whose session names a")

	// A role that sees only tenant a (pinned, not a reconciler) may not
	// reconcile: its pass would certify b's runs unseen.
	partial, name := loginRole(t, b, "rac_writer")
	_, err = b.pool.Exec(b.ctx, `GRANT SELECT ON ALL TABLES IN SCHEMA rac TO `+quoteIdent(name)+`;
		GRANT INSERT ON rac.reconciliations, rac.findings, rac.finding_resolutions, rac.run_verdicts TO `+quoteIdent(name)+`;
		GRANT USAGE ON SEQUENCE rac.reconciliations_id_seq TO `+quoteIdent(name))
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `INSERT INTO rac.tenant_roles (role_name, tenant_id) VALUES ($1, $2)`, name, ts.a)
	require.NoError(t, err)
	passes := count(t, b.pool, `SELECT count(*) FROM rac.reconciliations`)
	rec, err = reconciler.New(partial, reconciler.Options{Name: name})
	require.NoError(t, err)
	_, err = rec.RunOnce(context.Background())
	require.ErrorIs(t, err, reconciler.ErrPartialView)
	_, err = rec.ReconcileRun(context.Background(), ts.runA)
	require.ErrorIs(t, err, reconciler.ErrPartialView)
	require.Equal(t, passes, count(t, b.pool, `SELECT count(*) FROM rac.reconciliations`), "nothing recorded")
}

func quoteIdent(name string) string {
	return `"` + name + `"`
}
