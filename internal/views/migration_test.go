package views_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
)

// reportViewsVersion is the migration that creates the report views.
const reportViewsVersion = 4

func TestDownReversesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewEmptyDatabase(t).URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	m, err := migrate.New(pool, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	views := func() (n int) {
		require.NoError(t, pool.QueryRow(ctx, `
			SELECT count(to_regclass(v)) FROM unnest(ARRAY['rac.action_status', 'rac.findings_history', 'rac.daily_summary']) v`).Scan(&n))
		return n
	}

	_, err = m.UpTo(ctx, reportViewsVersion-1)
	require.NoError(t, err)
	before := pgtest.Grants(t, pool)
	_, err = m.UpTo(ctx, reportViewsVersion)
	require.NoError(t, err)
	up := pgtest.Grants(t, pool)
	require.Equal(t, 3, views())
	require.Subset(t, up, []string{
		"schema rac rac_auditor=USAGE",
		"relation rac.action_status rac_auditor=SELECT",
		"relation rac.findings_history rac_auditor=SELECT",
		"relation rac.daily_summary rac_auditor=SELECT",
		"function rac.action_state(boolean,timestamp with time zone,timestamp with time zone,timestamp with time zone,timestamp with time zone,interval) rac_auditor=EXECUTE",
	})

	_, err = m.DownTo(ctx, reportViewsVersion-1)
	require.NoError(t, err)
	require.Zero(t, views())
	require.Equal(t, before, pgtest.Grants(t, pool), "down grants exactly what was granted before up")
	var role bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rac_auditor')`).Scan(&role))
	require.True(t, role, "the role is cluster-wide: down keeps it")

	_, err = m.UpTo(ctx, reportViewsVersion)
	require.NoError(t, err)
	require.Equal(t, up, pgtest.Grants(t, pool), "up again, now that the role exists")

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
		_, err = m.DownTo(ctx, reportViewsVersion-1)
		require.NoError(t, err)
		for _, g := range pgtest.Grants(t, pool) {
			require.NotContains(t, g, "rac_auditor=", "rac_auditor keeps nothing in schema rac")
		}
	})
}
