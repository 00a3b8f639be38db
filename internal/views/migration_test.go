package views_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/migrations"
)

// reportViewsVersion is the migration that creates the report views.
const reportViewsVersion = 4

// grants lists every privilege granted on schema rac and on its relations
// and functions ("kind object grantee=privilege"), defaults made explicit so
// that a grant followed by its revoke compares equal to neither.
func grants(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		WITH objects (kind, name, acl) AS (
		    SELECT 'schema', n.nspname::text, coalesce(n.nspacl, acldefault('n', n.nspowner))
		    FROM pg_namespace n WHERE n.nspname = 'rac'
		    UNION ALL
		    SELECT 'relation', c.oid::regclass::text, coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))
		    FROM pg_class c WHERE c.relnamespace = 'rac'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
		    UNION ALL
		    SELECT 'function', p.oid::regprocedure::text, coalesce(p.proacl, acldefault('f', p.proowner))
		    FROM pg_proc p WHERE p.pronamespace = 'rac'::regnamespace
		)
		SELECT o.kind || ' ' || o.name || ' ' || CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
		       || '=' || a.privilege_type
		FROM objects o, aclexplode(o.acl) a
		ORDER BY 1`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestDownReversesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewEmptyDatabase(t).URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	sqlDB := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = sqlDB.Close() })
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS,
		goose.WithTableName(migrate.TableName), goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	views := func() (n int) {
		require.NoError(t, pool.QueryRow(ctx, `
			SELECT count(to_regclass(v)) FROM unnest(ARRAY['rac.action_status', 'rac.findings_history', 'rac.daily_summary']) v`).Scan(&n))
		return n
	}

	_, err = provider.UpTo(ctx, reportViewsVersion-1)
	require.NoError(t, err)
	before := grants(t, pool)
	_, err = provider.UpTo(ctx, reportViewsVersion)
	require.NoError(t, err)
	up := grants(t, pool)
	require.Equal(t, 3, views())
	require.Subset(t, up, []string{
		"schema rac rac_auditor=USAGE",
		"relation rac.action_status rac_auditor=SELECT",
		"relation rac.findings_history rac_auditor=SELECT",
		"relation rac.daily_summary rac_auditor=SELECT",
		"function rac.action_state(boolean,timestamp with time zone,timestamp with time zone,timestamp with time zone,timestamp with time zone,interval) rac_auditor=EXECUTE",
	})

	_, err = provider.DownTo(ctx, reportViewsVersion-1)
	require.NoError(t, err)
	require.Zero(t, views())
	require.Equal(t, before, grants(t, pool), "down grants exactly what was granted before up")
	var role bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rac_auditor')`).Scan(&role))
	require.True(t, role, "the role is cluster-wide: down keeps it")

	_, err = provider.UpTo(ctx, reportViewsVersion)
	require.NoError(t, err)
	require.Equal(t, up, grants(t, pool), "up again, now that the role exists")

	t.Run("down revokes the schema and the function when nothing else makes rac_auditor an auditor", func(t *testing.T) {
		// As when migration 00003 has not granted rac_auditor other views.
		_, err := pool.Exec(ctx, `
			DO $$
			DECLARE r record;
			BEGIN
			    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c, aclexplode(c.relacl) p
			             WHERE c.relnamespace = 'rac'::regnamespace AND p.grantee = 'rac_auditor'::regrole
			               AND c.relname NOT IN ('action_status', 'findings_history', 'daily_summary')
			    LOOP
			        EXECUTE format('REVOKE ALL ON %s FROM rac_auditor', r.rel);
			    END LOOP;
			END
			$$`)
		require.NoError(t, err)
		_, err = provider.DownTo(ctx, reportViewsVersion-1)
		require.NoError(t, err)
		for _, g := range grants(t, pool) {
			require.NotContains(t, g, "rac_auditor=", "rac_auditor keeps nothing in schema rac")
		}
	})
}
