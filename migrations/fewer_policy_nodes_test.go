package migrations_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

// fewerPolicyNodes is the migration that rewrites the authored and
// in_domain write policies with fewer plan nodes.
const fewerPolicyNodes = 20

func TestFewerPolicyNodesDownRestores(t *testing.T) {
	t.Parallel()
	requireDownRestores(t, fewerPolicyNodes)
}

// The write policies of rac.acks and rac.expectations accept and refuse
// the same direct inserts as before migration 00020. The test keeps both
// sets of definitions and switches between them (ALTER POLICY) around
// each attempt. The attempts are made through random changes of the
// domain mappings (of the writer, of a group it belongs to, of another
// writer) and of the writer's author rows (it can have several), by a
// registered writer and by one whose first write registers it in the same
// statement. Each names a random tenant, action and author: the writer's
// own, another writer's, none that exists, NULL or the default. Each
// attempt is rolled back and its answer compared: written, or the
// SQLSTATE raised.
//
//	RAC_SIM_SEED=N   replay seed N
//	RAC_SIM_STEPS=S  steps (default 300)
func TestWritePoliciesAcceptAsBeforeMigration20(t *testing.T) {
	t.Parallel()
	rng, steps, rerun := randomized(t, 300)
	ctx := context.Background()

	db := pgtest.NewEmptyDatabase(t)
	admin, m := migratorOn(t, db)
	_, err := m.UpTo(ctx, fewerPolicyNodes-1)
	require.NoError(t, err)
	before := writePolicyChecks(t, admin)
	_, err = m.UpTo(ctx, fewerPolicyNodes)
	require.NoError(t, err)
	after := writePolicyChecks(t, admin)
	require.NotEqual(t, before, after, "migration %d changes the write policies", fewerPolicyNodes)
	usePolicies := func(checks []writePolicyCheck) {
		t.Helper()
		for _, c := range checks {
			_, err := admin.Exec(ctx, `ALTER POLICY `+c.policy+` ON rac.`+c.table+` WITH CHECK (`+c.check+`)`)
			require.NoError(t, err, "%s on %s", c.policy, c.table)
		}
	}

	loginURL, login, group := groupedLogin(t, db, admin)
	freshURL, _ := pgtest.LoginRole(t, db, "rac_writer")
	otherURL, other := pgtest.LoginRole(t, db, "rac_writer")
	_, err = admin.Exec(ctx, `INSERT INTO rac.tenants (name) VALUES ('a')`)
	require.NoError(t, err)
	writer, fresh, otherWriter := openPool(t, loginURL), openPool(t, freshURL), openPool(t, otherURL)
	var ownIDs []int32
	var otherID int32
	var id int32
	require.NoError(t, writer.QueryRow(ctx, `SELECT rac.author_id()`).Scan(&id))
	ownIDs = append(ownIDs, id)
	require.NoError(t, otherWriter.QueryRow(ctx, `SELECT rac.author_id()`).Scan(&otherID))
	var actions []int16
	require.NoError(t, admin.QueryRow(ctx, `SELECT array_agg(id ORDER BY id) FROM rac.contract_actions`).Scan(&actions))
	actions = append(actions, 999)

	// Inserts as the writer tests name; $3 is the author, absent from the
	// default forms.
	const ackAs = `INSERT INTO rac.acks (tenant_id, run_id, action_id, author_id) VALUES ($1, gen_random_uuid(), $2, $3)`
	const ackDefault = `INSERT INTO rac.acks (tenant_id, run_id, action_id) VALUES ($1, gen_random_uuid(), $2)`
	const expectAs = `INSERT INTO rac.expectations (tenant_id, run_id, action_id, author_id, deadline_ms, declared_at, deadline_at)
		SELECT $1, gen_random_uuid(), $2, $3, 1000, c.now, c.now + interval '1 s' FROM (SELECT clock_timestamp() AS now) c`
	const expectDefault = `INSERT INTO rac.expectations (tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at)
		SELECT $1, gen_random_uuid(), $2, 1000, c.now, c.now + interval '1 s' FROM (SELECT clock_timestamp() AS now) c`

	mapped := []string{login, login, group, other}
	answers := map[string]int{}
	for step := range steps {
		role := mapped[rng.IntN(len(mapped))]
		var sql string
		var args []any
		switch rng.IntN(7) {
		case 0:
			sql = `DELETE FROM rac.domain_roles`
		case 1, 2:
			sql = `INSERT INTO rac.domain_roles (role_name, domain, privilege) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
			args = []any{role, []any{nil, "incidents", "policies", "logs"}[rng.IntN(4)], []string{"ack", "expect"}[rng.IntN(2)]}
		case 3:
			sql = `DELETE FROM rac.domain_roles WHERE role_name = $1`
			args = []any{role}
		case 4:
			if len(ownIDs) < 4 {
				require.NoError(t, admin.QueryRow(ctx, `INSERT INTO rac.authors (role_name, role_oid)
					VALUES ($1::name, to_regrole(quote_ident($1::text))) RETURNING id`, login).Scan(&id))
				ownIDs = append(ownIDs, id)
			}
		}
		if sql != "" {
			_, err := admin.Exec(ctx, sql, args...)
			require.NoError(t, err, sql)
		}

		session, who := writer, "registered writer"
		if rng.IntN(4) == 0 {
			session, who = fresh, "unregistered writer"
		}
		tenant := []int16{1, 1, 1, 2, 999}[rng.IntN(5)]
		action := actions[rng.IntN(len(actions))]
		ack := rng.IntN(2) == 0
		var author any
		authorName := "default"
		switch rng.IntN(6) {
		case 0, 1:
			author, authorName = ownIDs[rng.IntN(len(ownIDs))], "own"
		case 2:
			author, authorName = otherID, "another writer's"
		case 3:
			author, authorName = int32(999_999), "unknown"
		case 4:
			author, authorName = nil, "NULL"
		}
		sql, args = expectDefault, []any{tenant, action}
		switch {
		case ack && authorName == "default":
			sql = ackDefault
		case ack:
			sql, args = ackAs, append(args, author)
		case authorName != "default":
			sql, args = expectAs, append(args, author)
		}

		now := writeAnswer(t, session, sql, args...)
		usePolicies(before)
		was := writeAnswer(t, session, sql, args...)
		usePolicies(after)
		if now != was {
			t.Fatalf("%s, step %d: %s as the %s (tenant %d, action %d, %s author %v) answers %s; before migration %d %s (mappings: %v)",
				rerun, step, strings.Fields(sql)[2], who, tenant, action, authorName, author, now, fewerPolicyNodes, was,
				strs(t, admin, `SELECT role_name || ' ' || coalesce(domain, 'all') || ' ' || privilege FROM rac.domain_roles ORDER BY 1`))
		}
		answers[now]++
	}
	t.Logf("answers: %v", answers)
	require.Positive(t, answers["written"], "some attempts are written")
	require.Positive(t, answers["error 42501"], "some attempts are refused by a policy")
}

// writePolicyCheck is the WITH CHECK expression of one write policy.
type writePolicyCheck struct{ table, policy, check string }

// writePolicyChecks returns the authored and in_domain policies of
// rac.acks and rac.expectations, in a fixed order.
func writePolicyChecks(t *testing.T, pool *pgxpool.Pool) []writePolicyCheck {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT tablename, policyname, with_check FROM pg_catalog.pg_policies
		WHERE schemaname = 'rac' AND tablename IN ('acks', 'expectations') AND policyname IN ('authored', 'in_domain')
		ORDER BY tablename, policyname`)
	require.NoError(t, err)
	checks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (writePolicyCheck, error) {
		var c writePolicyCheck
		return c, r.Scan(&c.table, &c.policy, &c.check)
	})
	require.NoError(t, err)
	require.Len(t, checks, 4)
	return checks
}

// writeAnswer runs sql as pool's role in a transaction it rolls back and
// returns "written", "none" (no row) or the SQLSTATE raised.
func writeAnswer(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%s: %v", sql, err)
		return "error " + pgErr.Code
	}
	if tag.RowsAffected() == 0 {
		return "none"
	}
	return "written"
}
