package migrations_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

// writerDefaultTenantReads is the migration that adds the writers' fast
// path for reading the default tenant.
const writerDefaultTenantReads = 21

func TestWriterDefaultTenantReadsDownRestores(t *testing.T) {
	t.Parallel()
	requireDownRestores(t, writerDefaultTenantReads)
}

// Writers see the same rows of rac.expectations and rac.acks with the
// writer_default_tenant_reads policies as without them (switched off around
// each read), through random changes of the tenant mappings (of the
// writer, of a group it belongs to, of another writer, of a role that
// does not exist) and every value of rac.tenant, known or not, with rows
// in three tenants. Answers are compared as the tenants of the visible
// rows, counted, or as the SQLSTATE raised.
//
//	RAC_SIM_SEED=N   replay seed N
//	RAC_SIM_STEPS=S  steps (default 300)
func TestWritersSeeTheSameRowsAsBeforeMigration21(t *testing.T) {
	t.Parallel()
	rng, steps, rerun := randomized(t, 300)
	ctx := context.Background()

	db := pgtest.NewDatabase(t)
	admin := openPool(t, db.URL)
	loginURL, login, group := groupedLogin(t, db, admin)
	_, other := pgtest.LoginRole(t, db, "rac_writer")
	for _, sql := range []string{
		`INSERT INTO rac.tenants (name) VALUES ('a'), ('b')`,
		`INSERT INTO rac.expectations (tenant_id, run_id, action_id, author_id, deadline_ms, declared_at, deadline_at)
			SELECT t.id, gen_random_uuid(), 1, (SELECT rac.author_id()), 1000, c.now, c.now + interval '1 s'
			FROM rac.tenants t, generate_series(1, 2), (SELECT clock_timestamp() AS now) c`,
		`INSERT INTO rac.acks (tenant_id, run_id, action_id, author_id)
			SELECT t.id, gen_random_uuid(), 1, (SELECT rac.author_id()) FROM rac.tenants t, generate_series(1, 3)`,
	} {
		_, err := admin.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	writer := openPool(t, loginURL)

	quals := map[string]string{}
	for _, table := range []string{"expectations", "acks"} {
		var qual string
		require.NoError(t, admin.QueryRow(ctx, `SELECT qual FROM pg_catalog.pg_policies
			WHERE schemaname = 'rac' AND tablename = $1 AND policyname = 'writer_default_tenant_reads'`, table).Scan(&qual))
		quals[table] = qual
	}
	setFastPath := func(on bool) {
		t.Helper()
		for table, qual := range quals {
			if !on {
				qual = "false"
			}
			_, err := admin.Exec(ctx, `ALTER POLICY writer_default_tenant_reads ON rac.`+table+` USING (`+qual+`)`)
			require.NoError(t, err)
		}
	}

	// The fast path is the first arm of the OR of the permissive
	// policies, so a row it admits never calls rac.tenant_scope().
	for table := range quals {
		plan := strings.Join(strs(t, writer, `EXPLAIN (COSTS OFF) SELECT tenant_id FROM rac.`+table), "\n")
		fast, scope := strings.Index(plan, "tenant_id = 1"), strings.Index(plan, "tenant_id = ANY")
		require.True(t, fast >= 0 && scope > fast, "rac.%s: the fast path comes first:\n%s", table, plan)
	}

	mapped := []string{login, login, group, other, "no-such-role " + group}
	settings := []string{"", "", "default", "a", "b", "nope"}
	answers := map[string]int{}
	for step := range steps {
		role := mapped[rng.IntN(len(mapped))]
		var sql string
		var args []any
		switch rng.IntN(5) {
		case 0:
			sql = `DELETE FROM rac.tenant_roles`
		case 1, 2:
			sql = `INSERT INTO rac.tenant_roles (role_name, tenant_id)
				SELECT $1, (SELECT id FROM rac.tenants WHERE name = $2) ON CONFLICT DO NOTHING`
			args = []any{role, []any{nil, "default", "a", "b"}[rng.IntN(4)]}
		case 3:
			sql = `DELETE FROM rac.tenant_roles WHERE role_name = $1`
			args = []any{role}
		}
		if sql != "" {
			_, err := admin.Exec(ctx, sql, args...)
			require.NoError(t, err, sql)
		}
		setting := settings[rng.IntN(len(settings))]
		for _, table := range []string{"expectations", "acks"} {
			// The tenants of the rows the writer sees, counted.
			visible := `SELECT coalesce(string_agg(tenant_id || ':' || n, ' ' ORDER BY tenant_id), 'none')
				FROM (SELECT tenant_id, count(*) AS n FROM rac.` + table + ` GROUP BY tenant_id) v`
			now := scopeAnswer(t, writer, setting, visible)
			setFastPath(false)
			before := scopeAnswer(t, writer, setting, visible)
			setFastPath(true)
			if now != before {
				t.Fatalf("%s, step %d: rac.%s as the writer with rac.tenant %q shows %s; before migration %d %s (mappings: %v)",
					rerun, step, table, setting, now, writerDefaultTenantReads, before, strs(t, admin,
						`SELECT role_name || ' ' || coalesce(tenant_id::text, 'all') FROM rac.tenant_roles ORDER BY 1`))
			}
			answers[now]++
		}
	}
	t.Logf("answers: %v", answers)
	for _, want := range []string{"1:2", "1:3", "2:2", "error RC107"} {
		found := false
		for a := range answers {
			found = found || strings.Contains(a, want)
		}
		require.True(t, found, "the steps reach an answer with %q", want)
	}
}
