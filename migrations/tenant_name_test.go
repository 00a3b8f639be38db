package migrations_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/reconciler"
)

const tenantNameVersion = 15

// Migration 00015 down and up again: down restores the views exactly as
// they were (definitions, options, comments, grants), up only appends
// tenant to them.
func TestTenantNameDownReversesUp(t *testing.T) {
	t.Parallel()
	pool, m := emptyMigrator(t)
	ctx := t.Context()
	views := func() []string {
		return strs(t, pool, `
			SELECT c.relname || ' ' || coalesce(array_to_string(c.reloptions, ','), '') || ' ' ||
			       coalesce(obj_description(c.oid, 'pg_class'), '') || ' ' || pg_get_viewdef(c.oid) ||
			       (SELECT string_agg(a.attname || ': ' || coalesce(col_description(c.oid, a.attnum), ''), ', ' ORDER BY a.attnum)
			        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0)
			FROM pg_class c WHERE c.relnamespace = 'rac'::regnamespace AND c.relkind = 'v' ORDER BY c.relname`)
	}

	_, err := m.UpTo(ctx, tenantNameVersion-1)
	require.NoError(t, err)
	before, beforeGrants := views(), pgtest.Grants(t, pool)
	_, err = m.UpTo(ctx, tenantNameVersion)
	require.NoError(t, err)
	require.Equal(t, beforeGrants, pgtest.Grants(t, pool), "grants survive the replacement")
	require.NotEqual(t, before, views())
	_, err = m.DownTo(ctx, tenantNameVersion-1)
	require.NoError(t, err)
	require.Equal(t, before, views())
	require.Equal(t, beforeGrants, pgtest.Grants(t, pool))
	_, err = m.UpTo(ctx, tenantNameVersion)
	require.NoError(t, err)
}

// Migration 00015: every view with a tenant_id column has a tenant
// column holding the same name, for the owner and for an auditor login
// pinned to one tenant (who sees only that tenant's name in both).
func TestViewsNameTheTenant(t *testing.T) {
	t.Parallel()
	ts := setupTenants(t)
	b := ts.b
	for _, svc := range []*pgxpool.Pool{ts.svcA, ts.svcB} {
		writeOrchestratedRun(t, b, svc)
	}
	pgtest.WaitFinal(t, b.pool)
	rec, err := reconciler.New(b.pool, reconciler.Options{})
	require.NoError(t, err)
	_, err = rec.RunOnce(b.ctx)
	require.NoError(t, err)

	auditor, name := loginRole(t, b, "rac_auditor")
	_, err = b.pool.Exec(b.ctx, `INSERT INTO rac.tenant_roles (role_name, tenant_id) VALUES ($1, $2)`, name, ts.a)
	require.NoError(t, err)

	views := strs(t, b.pool, `
		SELECT c.table_name::text FROM information_schema.columns c
		JOIN information_schema.views v USING (table_schema, table_name)
		WHERE c.table_schema = 'rac' AND c.column_name = 'tenant_id' ORDER BY 1`)
	require.Len(t, views, 10, "the report views that name the tenant tenant_id")
	for _, view := range views {
		t.Run(view, func(t *testing.T) {
			require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM information_schema.columns
				WHERE table_schema = 'rac' AND table_name = $1 AND column_name = 'tenant' AND data_type = 'text'`, view))
			rel := "rac." + view
			differ := `SELECT count(*) FROM ` + rel + ` WHERE tenant IS DISTINCT FROM tenant_id`
			require.Zero(t, count(t, b.pool, differ), "as the owner")
			require.Zero(t, count(t, auditor, differ), "as the pinned auditor")
			require.Equal(t, []string{"a", "b"}, strs(t, b.pool, `SELECT DISTINCT tenant FROM `+rel+` ORDER BY 1`), "the owner sees both")
			require.Equal(t, []string{"a"}, strs(t, auditor, `SELECT DISTINCT tenant FROM `+rel+` ORDER BY 1`), "the auditor sees a only")
		})
	}
}

// writeOrchestratedRun writes, as svc (a writer pinned to its tenant), a
// run that every report view shows: a start/complete span (unexpected:
// drift findings), phases, a check finalized with an exception (the
// pending incident) and an ack the check did not see.
func writeOrchestratedRun(t *testing.T, b bundle, svc *pgxpool.Pool) {
	t.Helper()
	run := uuid.New()
	for _, sql := range []string{
		`SELECT rac.expect($1, ` + incidentsCreate + `, interval '1 hour')`,
		`SELECT rac.ack($1, 'logs', 'start_trace', 's')`,
		`SELECT rac.ack($1, 'logs', 'complete_trace', 'c')`,
		`SELECT rac.advance_phase($1, 'created')`,
		`SELECT rac.advance_phase($1, 'authorized')`,
		`SELECT rac.advance_phase($1, 'executing')`,
		`SELECT rac.governance_check($1, 'except')`,
		`SELECT rac.ack($1, ` + incidentsCreate + `, 'late')`,
	} {
		_, err := svc.Exec(b.ctx, sql, run)
		require.NoError(t, err, sql)
	}
}
