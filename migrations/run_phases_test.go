package migrations_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

const runPhasesVersion = 13

// Migration 00013 down and up again: down leaves exactly the grants and
// relations of 00012, up restores its own.
func TestRunPhasesDownReversesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, m := emptyMigrator(t)
	relations := func() []string {
		return strs(t, pool, `SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'rac'::regnamespace ORDER BY 1`)
	}

	_, err := m.UpTo(ctx, runPhasesVersion-1)
	require.NoError(t, err)
	before, beforeRels := pgtest.Grants(t, pool), relations()
	_, err = m.UpTo(ctx, runPhasesVersion)
	require.NoError(t, err)
	up := pgtest.Grants(t, pool)
	require.Contains(t, up, "relation rac.run_timeline rac_auditor=SELECT")
	_, err = m.DownTo(ctx, runPhasesVersion-1)
	require.NoError(t, err)
	require.Equal(t, before, pgtest.Grants(t, pool))
	require.Equal(t, beforeRels, relations())
	_, err = m.UpTo(ctx, runPhasesVersion)
	require.NoError(t, err)
	require.Equal(t, up, pgtest.Grants(t, pool))
}

// The SQL API of run orchestration, as a service in another language
// calls it: as a login in rac_writer, refusals as documented SQLSTATEs,
// finalize writing the finalize_run ack through rac.ack.
func TestGovernanceSQLAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	writer, _ := loginRole(t, b, "rac_writer")
	ctx := b.ctx
	declare := func(run uuid.UUID, acked ...string) {
		_, err := writer.Exec(ctx, `
			SELECT rac.expect($1, d, a, interval '1 hour'), CASE WHEN a = ANY ($2) THEN rac.ack($1, d, a, 'r') END
			FROM (VALUES ('incidents', 'create_incident'), ('logs', 'start_trace'), ('orchestrator', 'finalize_run')) v (d, a)`,
			run, acked)
		require.NoError(t, err)
	}

	t.Run("refused, then passed with the finalize ack", func(t *testing.T) {
		run := uuid.New()
		declare(run, "create_incident")
		tx, err := writer.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		var outcome, status string
		require.NoError(t, tx.QueryRow(ctx, `SELECT outcome, status FROM rac.governance_check($1)`, run).Scan(&outcome, &status))
		require.Equal(t, []string{"refused", "pending"}, []string{outcome, status})
		var ok bool
		require.NoError(t, tx.QueryRow(ctx, `SELECT rac.ack($1, 'logs', 'start_trace', 't')`, run).Scan(&ok))
		require.NoError(t, tx.QueryRow(ctx, `SELECT outcome FROM rac.governance_check($1)`, run).Scan(&outcome))
		require.Equal(t, "passed", outcome, "the caller's own ack counts")
		require.NoError(t, tx.Commit(ctx))
		require.Equal(t, 1, count(t, b.pool, `
			SELECT count(*) FROM rac.acks a JOIN rac.contract_actions c ON c.id = a.action_id
			WHERE a.run_id = $1 AND c.action = 'finalize_run' AND a.result_id LIKE 'governance_check:%'`, run))

		_, err = writer.Exec(ctx, `SELECT * FROM rac.governance_check($1)`, run)
		require.Equal(t, "RC133", pgError(t, err).Code)
		var n int
		require.NoError(t, writer.QueryRow(ctx, `SELECT count(*) FROM rac.governance_check($1, strict => false) WHERE outcome = 'finalized'`, run).Scan(&n))
		require.Equal(t, 1, n)
	})

	t.Run("bad input and the wrong phase", func(t *testing.T) {
		run := uuid.New()
		for sql, want := range map[string]string{
			`SELECT * FROM rac.governance_check($1, 'maybe')`:             "RC130",
			`SELECT * FROM rac.governance_check($1, grace => '-1 s')`:     "RC130",
			`SELECT * FROM rac.advance_phase($1, 'paused')`:               "RC130",
			`SELECT * FROM rac.advance_phase($1, 'governance_check')`:     "RC131",
			`SELECT * FROM rac.governance_check($1, tenant => 'nowhere')`: "RC135",
		} {
			_, err := writer.Exec(ctx, sql, run)
			require.Equal(t, want, pgError(t, err).Code, sql)
		}
		// finalize acks through rac.ack, in rac.current_tenant(): no other tenant.
		_, err := b.pool.Exec(ctx, `INSERT INTO rac.tenants (name) VALUES ('other')`)
		require.NoError(t, err)
		admin, err := b.pool.Acquire(ctx)
		require.NoError(t, err)
		_, err = admin.Exec(ctx, `SELECT * FROM rac.governance_check($1, tenant => 'other')`, run)
		require.Equal(t, "RC130", pgError(t, err).Code)
		_, err = admin.Exec(ctx, `SELECT * FROM rac.governance_check($1, tenant => 'other', finalize => false)`, run)
		require.NoError(t, err)
		admin.Release()
		_, err = writer.Exec(ctx, `SELECT * FROM rac.governance_check('00000000-0000-0000-0000-000000000000')`)
		require.Equal(t, "RC101", pgError(t, err).Code)
		_, err = writer.Exec(ctx, `SELECT rac.advance_phase($1, 'created')`, run)
		require.NoError(t, err)
		_, err = writer.Exec(ctx, `SELECT * FROM rac.governance_check($1)`, run)
		require.Equal(t, "RC132", pgError(t, err).Code)
	})

	t.Run("a role pinned to another domain may not act for the orchestrator", func(t *testing.T) {
		pinned, name := loginRole(t, b, "rac_writer")
		_, err := b.pool.Exec(ctx, `INSERT INTO rac.domain_roles (role_name, domain) VALUES ($1, 'incidents')`, name)
		require.NoError(t, err)
		for _, sql := range []string{`SELECT * FROM rac.governance_check($1)`, `SELECT * FROM rac.advance_phase($1, 'created')`} {
			_, err := pinned.Exec(ctx, sql, uuid.New())
			require.Equal(t, "RC134", pgError(t, err).Code, sql)
		}
	})

	t.Run("the writer cannot write the tables directly", func(t *testing.T) {
		denied(t, writer, `INSERT INTO rac.run_phases (run_id, seq, phase) VALUES (gen_random_uuid(), 1, 'created')`)
		denied(t, writer, `SELECT * FROM rac.governance_checks`)
	})
}
