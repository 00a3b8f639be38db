package migrations_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

// scopeWithoutRoleScan is the migration after which the scope functions
// look up only the mapped roles.
const scopeWithoutRoleScan = 19

func TestScopeWithoutRoleScanDownRestores(t *testing.T) {
	t.Parallel()
	requireDownRestores(t, scopeWithoutRoleScan)
}

// The scope functions (and rac.sees_every_tenant, which asks one of
// them) answer as they did before migration 00019 (their definitions of
// migration 00018, kept beside them under other names)
// for every session, through random changes of the tenant and domain
// mappings: of a login, of a group it belongs to (both named so that
// they need quoting), of an unrelated login, of a role that does not
// exist and of the superuser; with every value of rac.tenant, known or
// not; asked as the login, the unrelated login and the superuser.
// Answers are compared as values or as the SQLSTATE raised.
//
//	RAC_SIM_SEED=N   replay seed N
//	RAC_SIM_STEPS=S  steps (default 300)
func TestScopesAnswerAsBeforeMigration19(t *testing.T) {
	t.Parallel()
	rng, steps, rerun := randomized(t, 300)
	ctx := context.Background()

	// A ledger at migration 18 keeps its scope functions under other
	// names, then moves to 19.
	db := pgtest.NewEmptyDatabase(t)
	admin, m := migratorOn(t, db)
	_, err := m.UpTo(ctx, scopeWithoutRoleScan-1)
	require.NoError(t, err)
	for _, fn := range []struct{ name, args string }{
		{"tenant_scope", "()"}, {"domain_scope", "(text)"}, {"sees_every_tenant", "()"},
	} {
		var def string
		require.NoError(t, admin.QueryRow(ctx, `SELECT pg_get_functiondef($1::regprocedure)`,
			"rac."+fn.name+fn.args).Scan(&def))
		def = strings.Replace(def, "FUNCTION rac."+fn.name+"(", "FUNCTION public."+fn.name+"_before(", 1)
		// A body names its own parameters by its function's name.
		def = strings.ReplaceAll(def, " "+fn.name+".", " "+fn.name+"_before.")
		_, err := admin.Exec(ctx, def)
		require.NoError(t, err, def)
		_, err = admin.Exec(ctx, `GRANT EXECUTE ON FUNCTION public.`+fn.name+`_before`+fn.args+` TO PUBLIC`)
		require.NoError(t, err)
	}
	_, err = m.UpTo(ctx, scopeWithoutRoleScan)
	require.NoError(t, err)

	loginURL, login, group := groupedLogin(t, db, admin)
	otherURL, other := pgtest.LoginRole(t, db, "rac_writer")
	_, err = admin.Exec(ctx, `INSERT INTO rac.tenants (name) VALUES ('a'), ('b')`)
	require.NoError(t, err)
	var superuser string
	require.NoError(t, admin.QueryRow(ctx, `SELECT session_user`).Scan(&superuser))
	sessions := map[string]*pgxpool.Pool{
		"login": openPool(t, loginURL), "other login": openPool(t, otherURL), "superuser": admin,
	}
	mapped := []string{login, login, group, group, other, "no-such-role " + group, `no "such" role`, superuser}

	settings := []string{"", "", "default", "a", "b", "nope"}
	answers := map[string]int{}
	for step := range steps {
		role := mapped[rng.IntN(len(mapped))]
		var sql string
		var args []any
		switch rng.IntN(8) {
		case 0:
			sql = `DELETE FROM rac.tenant_roles; DELETE FROM rac.domain_roles`
		case 1, 2:
			sql = `INSERT INTO rac.tenant_roles (role_name, tenant_id)
				SELECT $1, (SELECT id FROM rac.tenants WHERE name = $2) ON CONFLICT DO NOTHING`
			args = []any{role, []any{nil, "default", "a", "b"}[rng.IntN(4)]}
		case 3, 4:
			sql = `INSERT INTO rac.domain_roles (role_name, domain, privilege) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
			args = []any{role, []any{nil, "incidents", "policies", "logs"}[rng.IntN(4)], []string{"ack", "expect"}[rng.IntN(2)]}
		case 5:
			sql = `DELETE FROM rac.tenant_roles WHERE role_name = $1`
			args = []any{role}
		case 6:
			sql = `DELETE FROM rac.domain_roles WHERE role_name = $1`
			args = []any{role}
		}
		if sql != "" {
			_, err := admin.Exec(ctx, sql, args...)
			require.NoError(t, err, sql)
		}
		setting := settings[rng.IntN(len(settings))]
		for who, pool := range sessions {
			for _, q := range [][2]string{
				{"rac.tenant_scope()", "public.tenant_scope_before()"},
				{"rac.domain_scope('ack')", "public.domain_scope_before('ack')"},
				{"rac.domain_scope('expect')", "public.domain_scope_before('expect')"},
				{"rac.sees_every_tenant()", "public.sees_every_tenant_before()"},
			} {
				now, before := scopeAnswer(t, pool, setting, q[0]), scopeAnswer(t, pool, setting, q[1])
				if now != before {
					t.Fatalf("%s, step %d: %s as the %s with rac.tenant %q answers %s; before migration 19 %s (mappings: %v)",
						rerun, step, q[0], who, setting, now, before, strs(t, admin, `
							SELECT 'tenant ' || role_name || ' ' || coalesce(tenant_id::text, 'all') FROM rac.tenant_roles
							UNION ALL
							SELECT 'domain ' || role_name || ' ' || coalesce(domain, 'all') || ' ' || privilege FROM rac.domain_roles
							ORDER BY 1`))
				}
				answers[who+" "+strings.SplitN(q[0], "(", 2)[0]+" "+kindOf(now)]++
			}
		}
	}
	t.Logf("answers: %v", answers)
	for _, want := range []string{
		"login rac.tenant_scope pinned", "login rac.tenant_scope unpinned", "login rac.tenant_scope error",
		"login rac.domain_scope pinned", "login rac.domain_scope unpinned",
		"login rac.sees_every_tenant true", "login rac.sees_every_tenant false",
	} {
		require.Positive(t, answers[want], "the steps reach %q", want)
	}
}

// scopeAnswer runs SELECT expr as pool's role with rac.tenant set to
// setting (empty: unset) and returns its value as text, or the SQLSTATE
// it raised.
func scopeAnswer(t *testing.T, pool *pgxpool.Pool, setting, expr string) string {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SELECT set_config('rac.tenant', $1, true)`, setting)
	require.NoError(t, err)
	var v *string
	if err := tx.QueryRow(ctx, `SELECT (`+expr+`)::text`).Scan(&v); err != nil {
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%s: %v", expr, err)
		return "error " + pgErr.Code
	}
	if v == nil {
		return "NULL"
	}
	return *v
}

// kindOf sorts an answer for the coverage counts: an error, a boolean,
// NULL (not pinned to domains), a single default tenant, or anything else.
func kindOf(answer string) string {
	switch {
	case strings.HasPrefix(answer, "error"):
		return "error"
	case answer == "true", answer == "false":
		return answer
	case answer == "NULL", answer == "{1}":
		return "unpinned"
	default:
		return "pinned"
	}
}
