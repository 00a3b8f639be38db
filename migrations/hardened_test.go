package migrations_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/reconciler"
)

const (
	codeCheckViolation = "23514" // PostgreSQL's check_violation
	codeIdentityChosen = "RC120"
	codeNoCurrval      = "55000" // object_not_in_prerequisite_state: currval before any nextval
)

// Every function of schema rac runs with a search_path of its own, so no
// caller's schema can stand in for a name in its body. The one exception
// is a function with a SQL-standard body (BEGIN ATOMIC or RETURN), whose
// names were resolved when it was created and are stored resolved:
// rac.action_state, which must stay inlinable (a SET clause stops the
// planner from inlining a SQL function). The test reads the catalog, so it
// also covers functions added after it was written.
func TestEveryFunctionPinsSearchPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	all := strs(t, b.pool, `SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'rac'::regnamespace ORDER BY 1`)
	require.NotEmpty(t, all)
	unpinned := strs(t, b.pool, `
		SELECT p.oid::regprocedure::text FROM pg_proc p
		WHERE p.pronamespace = 'rac'::regnamespace
		  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
		  AND p.prosqlbody IS NULL
		ORDER BY 1`)
	require.Empty(t, unpinned, "functions of schema rac without SET search_path")
	require.Equal(t, []string{"rac.action_state(boolean,timestamp with time zone,timestamp with time zone," +
		"timestamp with time zone,timestamp with time zone,interval)"}, strs(t, b.pool, `
		SELECT p.oid::regprocedure::text FROM pg_proc p
		WHERE p.pronamespace = 'rac'::regnamespace AND p.prosqlbody IS NOT NULL AND p.proconfig IS NULL
		ORDER BY 1`), "the only function bound at creation instead")
	// And the pinned path starts with pg_catalog: nothing a caller creates
	// comes before the system's own names.
	other := strs(t, b.pool, `
		SELECT p.oid::regprocedure::text || ': ' || c FROM pg_proc p, unnest(p.proconfig) c
		WHERE p.pronamespace = 'rac'::regnamespace AND c LIKE 'search\_path=%'
		  AND c NOT IN ('search_path=pg_catalog, pg_temp', 'search_path=pg_catalog, rac, pg_temp')
		ORDER BY 1`)
	require.Empty(t, other, "search_path settings other than pg_catalog first and pg_temp last")
}

// A role that sees one tenant, with a schema of its own first on its
// search_path and a pg_has_role there that always says yes, once got
// through rac.sees_whole_ledger() and could run a pass over its tenant's
// rows alone. It no longer can.
func TestHostileSearchPathCannotPassTheGuard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, `INSERT INTO rac.tenants (name) VALUES ('a'), ('b')`)
	require.NoError(t, err)

	roleURL, name := pgtest.LoginRole(t, b.db)
	ident := pgx.Identifier{name}.Sanitize()
	for _, sql := range []string{
		// Pinned to tenant a, with the reconciler's table privileges but
		// not its membership: row-level security shows it tenant a only.
		`INSERT INTO rac.tenant_roles (role_name, tenant_id) SELECT '` + name + `', id FROM rac.tenants WHERE name = 'a'`,
		`GRANT USAGE ON SCHEMA rac TO ` + ident,
		`GRANT SELECT ON ALL TABLES IN SCHEMA rac TO ` + ident,
		`GRANT INSERT ON rac.reconciliations, rac.findings, rac.finding_resolutions, rac.run_verdicts, rac.seals, rac.seal_chunks TO ` + ident,
		`GRANT USAGE ON SEQUENCE rac.reconciliations_id_seq TO ` + ident,
		`GRANT EXECUTE ON FUNCTION rac.action_state(boolean, timestamptz, timestamptz, timestamptz, timestamptz, interval) TO ` + ident,
		`CREATE SCHEMA evil AUTHORIZATION ` + ident,
		// The guard as migration 00006 defined it, without a pinned
		// search_path, to show that the attack works on it.
		`CREATE FUNCTION public.unpinned_sees_whole_ledger() RETURNS boolean LANGUAGE sql STABLE AS $$
		    SELECT NOT (row_security_active('rac.expectations'::regclass) OR row_security_active('rac.acks'::regclass)
		                OR row_security_active('rac.findings'::regclass)
		                OR row_security_active('rac.finding_resolutions'::regclass)
		                OR row_security_active('rac.run_verdicts'::regclass))
		        OR pg_has_role(current_user, 'rac_reconciler', 'MEMBER')
		        OR NOT EXISTS (SELECT 1 FROM rac.tenants t WHERE NOT t.id = ANY (rac.tenant_scope()))
		$$`,
	} {
		_, err := b.pool.Exec(b.ctx, sql)
		require.NoError(t, err, sql)
	}

	u, err := url.Parse(roleURL)
	require.NoError(t, err)
	u.RawQuery += "&options=" + strings.ReplaceAll(url.QueryEscape("-c search_path=evil,pg_catalog"), "+", "%20")
	hostile := openPool(t, u.String())

	_, err = hostile.Exec(b.ctx, `CREATE FUNCTION evil.pg_has_role(name, text, text) RETURNS boolean
		LANGUAGE sql AS 'SELECT true'`)
	require.NoError(t, err)
	var yes, before, after bool
	require.NoError(t, hostile.QueryRow(b.ctx, `
		SELECT pg_has_role(current_user, 'rac_reconciler', 'MEMBER'), public.unpinned_sees_whole_ledger(),
		       rac.sees_whole_ledger()`).Scan(&yes, &before, &after))
	require.True(t, yes, "the session resolves pg_has_role to its own")
	require.True(t, before, "the unpinned guard lets the session through")
	require.False(t, after, "rac.sees_whole_ledger() is not fooled")

	rec, err := reconciler.New(hostile, reconciler.Options{Name: name})
	require.NoError(t, err)
	_, err = rec.RunOnce(b.ctx)
	require.ErrorIs(t, err, reconciler.ErrPartialView)
	require.Zero(t, count(t, b.pool, `SELECT count(*) FROM rac.reconciliations WHERE reconciler = $1`, name))
}

// A direct INSERT (the Go library's path, or anyone with INSERT) cannot
// store what rac.expect and rac.ack refuse.
func TestTablesCarryTheAPILimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	x := func(n int) string { return strings.Repeat("x", n) }
	// metadata returns a JSON string whose text form is n bytes long.
	metadata := func(n int) string { return `"` + x(n-2) + `"` }
	const ack = `INSERT INTO rac.acks (run_id, action_id, result_id, idempotency_key, error, metadata)
		VALUES (gen_random_uuid(), 1, $1, $2, $3, $4::jsonb)`
	const expectation = `INSERT INTO rac.expectations (run_id, action_id, declared_by, metadata, deadline_ms, deadline_at)
		VALUES (gen_random_uuid(), 1, $1, $2::jsonb, $3::bigint, now() + $3::bigint * interval '1 millisecond')`
	const maxDeadlineMS = int64(10 * 366 * 86400 * 1000)

	cases := []struct {
		name       string
		sql        string
		ok, tooBig []any
		constraint string
	}{
		{"ack result_id", ack, []any{x(256), nil, nil, nil}, []any{x(257), nil, nil, nil}, "acks_result_id_bytes"},
		{"ack idempotency_key", ack, []any{nil, x(256), nil, nil}, []any{nil, x(257), nil, nil}, "acks_idempotency_key_bytes"},
		{"ack error", ack, []any{nil, nil, x(8192), nil}, []any{nil, nil, x(8193), nil}, "acks_error_bytes"},
		{"ack metadata", ack, []any{nil, nil, nil, metadata(65536)}, []any{nil, nil, nil, metadata(65537)}, "acks_metadata_bytes"},
		{"expectation declared_by", expectation, []any{x(256), nil, 1000}, []any{x(257), nil, 1000}, "expectations_declared_by_bytes"},
		{"expectation metadata", expectation, []any{nil, metadata(65536), 1000}, []any{nil, metadata(65537), 1000}, "expectations_metadata_bytes"},
		{"expectation deadline", expectation, []any{nil, nil, maxDeadlineMS}, []any{nil, nil, maxDeadlineMS + 1}, "expectations_deadline_range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.pool.Exec(b.ctx, c.sql, c.ok...)
			require.NoError(t, err, "at the limit")
			_, err = b.pool.Exec(b.ctx, c.sql, c.tooBig...)
			pgErr := pgError(t, err)
			require.Equal(t, codeCheckViolation, pgErr.Code, pgErr.Message)
			require.Equal(t, c.constraint, pgErr.ConstraintName)
		})
	}

	t.Run("waiver actor and reason", func(t *testing.T) {
		for _, sql := range []string{
			`INSERT INTO rac.finding_resolutions (finding_id, tenant_id, resolution, resolved_at, actor, reason)
			 VALUES (1, 1, 'waived', now(), repeat('x', 257), 'r')`,
			`INSERT INTO rac.finding_resolutions (finding_id, tenant_id, resolution, resolved_at, actor, reason)
			 VALUES (1, 1, 'waived', now(), 'a', repeat('x', 4097))`,
		} {
			_, err := b.pool.Exec(b.ctx, sql)
			require.Equal(t, codeCheckViolation, pgError(t, err).Code, sql)
		}
	})

	t.Run("rac.expect limits declared_by", func(t *testing.T) {
		require.True(t, written(t, b.pool, `SELECT rac.expect($1, `+incidentsCreate+`, interval '1 s', $2)`, uuid.New(), x(256)))
		_, err := b.pool.Exec(b.ctx, `SELECT rac.expect($1, `+incidentsCreate+`, interval '1 s', $2)`, uuid.New(), x(257))
		pgErr := pgError(t, err)
		require.Equal(t, codeTooLong, pgErr.Code)
		require.Equal(t, "declared_by", pgErr.ColumnName)
	})
}

// A writer with INSERT on the tables can neither choose an identity id nor
// repeat one with OVERRIDING SYSTEM VALUE; the column default still works,
// and so does the reconciler's own nextval (TestRoles runs a pass).
func TestIdentityIDsAreTheSequences(t *testing.T) {
	t.Parallel()
	b := setup(t)
	roleURL, name := pgtest.LoginRole(t, b.db, "rac_writer")
	ident := pgx.Identifier{name}.Sanitize()
	_, err := b.pool.Exec(b.ctx, `GRANT SELECT, INSERT ON rac.acks, rac.expectations TO `+ident)
	require.NoError(t, err)
	conn, err := pgx.Connect(b.ctx, roleURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	run := uuid.New()
	exec := func(sql string, args ...any) error {
		_, err := conn.Exec(b.ctx, sql, args...)
		return err
	}
	const override = `INSERT INTO rac.acks (id, run_id, action_id) OVERRIDING SYSTEM VALUE VALUES ($1, $2, 1)`

	// Before the session took any id: currval is undefined.
	require.Equal(t, codeNoCurrval, pgError(t, exec(override, int64(1), run)).Code)

	var id int64
	require.NoError(t, conn.QueryRow(b.ctx, `INSERT INTO rac.acks (run_id, action_id) VALUES ($1, 1) RETURNING id`, run).Scan(&id))
	for _, chosen := range []int64{id, id + 1, id - 1, 1 << 40} {
		pgErr := pgError(t, exec(override, chosen, run))
		require.Equal(t, codeIdentityChosen, pgErr.Code, "id %d: %s", chosen, pgErr.Message)
	}
	require.NoError(t, exec(`INSERT INTO rac.acks (run_id, action_id) SELECT $1, 1 FROM generate_series(1, 3)`, run),
		"default ids, several per statement")
	var last int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT max(id) FROM rac.acks`).Scan(&last))
	require.Equal(t, codeIdentityChosen, pgError(t, exec(override, last, run)).Code, "the id of the session's last ack")

	require.NoError(t, exec(`INSERT INTO rac.expectations (run_id, action_id, deadline_ms, declared_at, deadline_at)
		SELECT $1, 1, 1000, c.now, c.now + interval '1 s' FROM (SELECT clock_timestamp() AS now) c`, uuid.New()))
	require.Equal(t, codeIdentityChosen, pgError(t, exec(`
		INSERT INTO rac.expectations (id, run_id, action_id, deadline_ms, declared_at, deadline_at) OVERRIDING SYSTEM VALUE
		SELECT 1 << 40, $1, 1, 1000, c.now, c.now + interval '1 s' FROM (SELECT clock_timestamp() AS now) c`, uuid.New())).Code)

	require.Equal(t, 4, count(t, b.pool, `SELECT count(*) FROM rac.acks WHERE run_id = $1`, run))
	require.Zero(t, count(t, b.pool, `SELECT count(*) FROM (SELECT id FROM rac.acks GROUP BY id HAVING count(*) > 1) d`))
}

// Down undoes 00009 exactly: the functions, constraints, triggers,
// policies and grants of schema rac are those of 00008 again.
func TestHardenedSurfaceDownRestores(t *testing.T) {
	t.Parallel()
	requireDownRestores(t, 9)
}
