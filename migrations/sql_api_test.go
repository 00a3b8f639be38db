package migrations_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// The SQLSTATEs of the SQL API, as documented in docs/sql-api.md.
const (
	codeAppendOnly    = "RC001"
	codeNilRun        = "RC101"
	codeBadName       = "RC102"
	codeUnknownAction = "RC103"
	codeDeadline      = "RC104"
	codeTooLong       = "RC105"
	codeConflict      = "RC106"
	codeUnknownTenant = "RC107"
	codeNoPrivilege   = "42501" // PostgreSQL's insufficient_privilege
)

// incidentsCreate is a catalog pair, as the domain and action arguments.
const incidentsCreate = `'incidents', 'create_incident'`

type bundle struct {
	ctx  context.Context
	db   pgtest.Database
	pool *pgxpool.Pool // the superuser that ran the migrations
}

func setup(t *testing.T) bundle {
	t.Helper()
	db := pgtest.NewDatabase(t)
	return bundle{ctx: context.Background(), db: db, pool: openPool(t, db.URL)}
}

func openPool(t *testing.T, connString string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), connString)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, pool.Ping(context.Background()))
	return pool
}

type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func count(t *testing.T, q queryer, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, q.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func strs(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql, args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// written reports whether one rac.expect or rac.ack call wrote its row.
func written(t *testing.T, q queryer, sql string, args ...any) bool {
	t.Helper()
	var ok bool
	require.NoError(t, q.QueryRow(context.Background(), sql, args...).Scan(&ok), sql)
	return ok
}

// pgError returns err as the server's error, failing the test if it is not one.
func pgError(t *testing.T, err error) *pgconn.PgError {
	t.Helper()
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	return pgErr
}

// rowsOf counts the expectations and acks of run in any tenant.
func rowsOf(t *testing.T, q queryer, run uuid.UUID) (expectations, acks int) {
	t.Helper()
	require.NoError(t, q.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM rac.expectations WHERE run_id = $1),
		       (SELECT count(*) FROM rac.acks WHERE run_id = $1)`, run).Scan(&expectations, &acks))
	return expectations, acks
}

func TestWritesJoinTheCallersTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, `CREATE TABLE public.incidents (id text PRIMARY KEY, run_id uuid NOT NULL)`)
	require.NoError(t, err)

	// business writes the domain's own row and the ledger's in one transaction.
	business := func(t *testing.T, tx pgx.Tx, run uuid.UUID, incident string) {
		t.Helper()
		_, err := tx.Exec(b.ctx, `INSERT INTO public.incidents (id, run_id) VALUES ($1, $2)`, incident, run)
		require.NoError(t, err)
		require.True(t, written(t, tx,
			`SELECT rac.expect($1, `+incidentsCreate+`, interval '5 seconds', 'checkout', '{"order": 7}')`, run))
		require.True(t, written(t, tx,
			`SELECT rac.ack($1, `+incidentsCreate+`, result_id => $2, idempotency_key => 'k1', metadata => '{"n": 1}')`,
			run, incident))
	}

	t.Run("rolled back leaves nothing", func(t *testing.T) {
		run := uuid.New()
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(b.ctx) }()
		business(t, tx, run, "inc-rolled-back")
		require.NoError(t, tx.Rollback(b.ctx))

		e, a := rowsOf(t, b.pool, run)
		require.Zero(t, e, "expectations")
		require.Zero(t, a, "acks")
		require.Zero(t, count(t, b.pool, `SELECT count(*) FROM public.incidents`))
	})

	t.Run("committed leaves exactly those rows", func(t *testing.T) {
		run := uuid.New()
		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(b.ctx) }()
		business(t, tx, run, "inc-42")
		require.NoError(t, tx.Commit(b.ctx))

		require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM public.incidents`))
		require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM rac.expectations`))
		require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM rac.acks`))

		var (
			tenant, declaredBy, metadata string
			deadlineMS                   int64
			deadlineIsDeclaredPlus5s     bool
		)
		require.NoError(t, b.pool.QueryRow(b.ctx, `
			SELECT t.name, e.deadline_ms, e.deadline_at = e.declared_at + interval '5 seconds',
			       e.declared_by, e.metadata::text
			FROM rac.expectations e JOIN rac.tenants t ON t.id = e.tenant_id
			JOIN rac.contract_actions c ON c.id = e.action_id
			WHERE e.run_id = $1 AND c.domain = 'incidents' AND c.action = 'create_incident'`, run).
			Scan(&tenant, &deadlineMS, &deadlineIsDeclaredPlus5s, &declaredBy, &metadata))
		require.Equal(t, ledger.DefaultTenant, tenant)
		require.EqualValues(t, 5000, deadlineMS)
		require.True(t, deadlineIsDeclaredPlus5s, "deadline_at = declared_at + deadline")
		require.Equal(t, "checkout", declaredBy)
		require.JSONEq(t, `{"order": 7}`, metadata)

		var (
			resultID, key, ackMetadata string
			errText                    *string
			sameTx                     bool
		)
		require.NoError(t, b.pool.QueryRow(b.ctx, `
			SELECT t.name, a.result_id, a.idempotency_key, a.error, a.metadata::text,
			       a.tx_id = (SELECT e.tx_id FROM rac.expectations e WHERE e.run_id = a.run_id)
			FROM rac.acks a JOIN rac.tenants t ON t.id = a.tenant_id
			WHERE a.run_id = $1`, run).Scan(&tenant, &resultID, &key, &errText, &ackMetadata, &sameTx))
		require.Equal(t, ledger.DefaultTenant, tenant)
		require.Equal(t, "inc-42", resultID)
		require.Equal(t, "k1", key)
		require.Nil(t, errText, "no error: a success ack")
		require.JSONEq(t, `{"n": 1}`, ackMetadata)
		require.True(t, sameTx, "expectation and ack were written by the caller's one transaction")
	})
}

func TestBadInputRaisesItsSQLSTATE(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := uuid.New()
	// metadata returns a JSON string whose text form is n bytes long.
	metadata := func(n int) string { return `"` + strings.Repeat("x", n-2) + `"` }

	cases := []struct {
		name  string
		sql   string // $1 is run unless args say otherwise
		args  []any
		code  string
		field string
	}{
		{"expect nil run id", `SELECT rac.expect($1, ` + incidentsCreate + `, interval '5 s')`, []any{uuid.Nil}, codeNilRun, "run_id"},
		{"expect NULL run id", `SELECT rac.expect(NULL, ` + incidentsCreate + `, interval '5 s')`, []any{}, codeNilRun, "run_id"},
		{"ack nil run id", `SELECT rac.ack($1, ` + incidentsCreate + `)`, []any{uuid.Nil}, codeNilRun, "run_id"},
		{"expect malformed domain", `SELECT rac.expect($1, 'Incidents', 'create_incident', interval '5 s')`, nil, codeBadName, "domain"},
		{"expect NULL action", `SELECT rac.expect($1, 'incidents', NULL, interval '5 s')`, nil, codeBadName, "action"},
		{"ack malformed action", `SELECT rac.ack($1, 'incidents', 'create-incident')`, nil, codeBadName, "action"},
		{"ack domain over 63 characters", `SELECT rac.ack($1, $2, 'create_incident')`,
			[]any{run, "i" + strings.Repeat("n", 63)}, codeBadName, "domain"},
		{"ack name with a trailing newline", `SELECT rac.ack($1, E'incidents\n', 'create_incident')`, nil, codeBadName, "domain"},
		{"expect unknown action", `SELECT rac.expect($1, 'incidents', 'close_incident', interval '5 s')`, nil, codeUnknownAction, "action"},
		{"ack unknown domain", `SELECT rac.ack($1, 'billing', 'create_incident')`, nil, codeUnknownAction, "action"},
		{"expect zero deadline", `SELECT rac.expect($1, ` + incidentsCreate + `, interval '0')`, nil, codeDeadline, "deadline"},
		{"expect negative deadline", `SELECT rac.expect($1, ` + incidentsCreate + `, interval '-5 seconds')`, nil, codeDeadline, "deadline"},
		{"expect deadline below 1ms", `SELECT rac.expect($1, ` + incidentsCreate + `, interval '999 microseconds')`, nil, codeDeadline, "deadline"},
		{"expect deadline over 3660 days", `SELECT rac.expect($1, ` + incidentsCreate + `, interval '3660 days 1 millisecond')`, nil, codeDeadline, "deadline"},
		{"expect metadata over 64 KiB", `SELECT rac.expect($1, ` + incidentsCreate + `, interval '5 s', NULL, $2::jsonb)`,
			[]any{run, metadata(ledger.MaxMetadataBytes + 1)}, codeTooLong, "metadata"},
		// Two-byte characters: the limit counts bytes, like the Go library.
		{"ack result_id over 256 bytes", `SELECT rac.ack($1, ` + incidentsCreate + `, result_id => $2)`,
			[]any{run, strings.Repeat("é", ledger.MaxResultIDBytes/2+1)}, codeTooLong, "result_id"},
		{"ack idempotency_key over 256 bytes", `SELECT rac.ack($1, ` + incidentsCreate + `, idempotency_key => $2)`,
			[]any{run, strings.Repeat("k", ledger.MaxIdempotencyKeyBytes+1)}, codeTooLong, "idempotency_key"},
		{"ack error over 8 KiB", `SELECT rac.ack($1, ` + incidentsCreate + `, error => $2)`,
			[]any{run, strings.Repeat("e", ledger.MaxErrorBytes+1)}, codeTooLong, "error"},
		{"ack metadata over 64 KiB", `SELECT rac.ack($1, ` + incidentsCreate + `, metadata => $2::jsonb)`,
			[]any{run, metadata(ledger.MaxMetadataBytes + 1)}, codeTooLong, "metadata"},
	}

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if args == nil {
				args = []any{run}
			}
			_, err := tx.Exec(b.ctx, `SAVEPOINT bad_input`)
			require.NoError(t, err)
			_, err = tx.Exec(b.ctx, c.sql, args...)
			pgErr := pgError(t, err)
			require.Equal(t, c.code, pgErr.Code, pgErr.Message)
			require.Contains(t, pgErr.Message, c.field, "the message names the field")
			require.Equal(t, c.field, pgErr.ColumnName, "the error's column field names it too")
			_, err = tx.Exec(b.ctx, `ROLLBACK TO SAVEPOINT bad_input`)
			require.NoError(t, err)
		})
	}
	// The transaction goes on and commits; no refused call wrote anything.
	require.True(t, written(t, tx, `SELECT rac.ack($1, 'logs', 'start_trace')`, uuid.New()))
	require.NoError(t, tx.Commit(b.ctx))
	e, a := rowsOf(t, b.pool, run)
	require.Zero(t, e, "expectations")
	require.Zero(t, a, "acks")
	require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM rac.acks`))

	t.Run("values at the limits are accepted", func(t *testing.T) {
		deadlines := map[string]int64{
			"1 millisecond":      1,
			"1500 microseconds":  1, // sub-millisecond parts are dropped, like time.Duration.Milliseconds
			"3660 days":          ledger.MaxDeadline.Milliseconds(),
			"2 hours 30 minutes": 9_000_000,
		}
		for deadline, want := range deadlines {
			run := uuid.New()
			require.True(t, written(t, b.pool, `SELECT rac.expect($1, `+incidentsCreate+`, $2::text::interval, NULL, $3::jsonb)`,
				run, deadline, metadata(ledger.MaxMetadataBytes)), deadline)
			var ms int64
			var exact bool
			require.NoError(t, b.pool.QueryRow(b.ctx, `
				SELECT deadline_ms, deadline_at = declared_at + deadline_ms * interval '1 millisecond'
				FROM rac.expectations WHERE run_id = $1`, run).Scan(&ms, &exact))
			require.Equal(t, want, ms, deadline)
			require.True(t, exact, deadline)
		}
		require.True(t, written(t, b.pool, `SELECT rac.ack($1, `+incidentsCreate+`, $2, $3, $4, $5::jsonb)`,
			uuid.New(), strings.Repeat("é", ledger.MaxResultIDBytes/2), strings.Repeat("e", ledger.MaxErrorBytes),
			strings.Repeat("k", ledger.MaxIdempotencyKeyBytes), metadata(ledger.MaxMetadataBytes)))
	})
}

func TestNullDeadlineIsAnInvalidContract(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := uuid.New()

	require.True(t, written(t, b.pool, `SELECT rac.expect($1, `+incidentsCreate+`, NULL)`, run), "recorded, not raised")
	var deadlineMS *int64
	var deadlineAt *time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT deadline_ms, deadline_at FROM rac.expectations WHERE run_id = $1`, run).
		Scan(&deadlineMS, &deadlineAt))
	require.Nil(t, deadlineMS)
	require.Nil(t, deadlineAt)

	rec, err := reconciler.New(b.pool, reconciler.Options{Name: t.Name()})
	require.NoError(t, err)
	res, err := rec.ReconcileRun(b.ctx, run)
	require.NoError(t, err)
	require.Equal(t, []reconciler.Ref{{Domain: "incidents", Action: "create_incident"}}, res.Invalid)
	require.Equal(t, reconciler.VerdictViolated, res.Verdict)
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("an idempotency key used twice writes one ack", func(t *testing.T) {
		run := uuid.New()
		ack := `SELECT rac.ack($1, ` + incidentsCreate + `, result_id => $2, idempotency_key => 'k1')`
		require.True(t, written(t, b.pool, ack, run, "inc-1"))
		require.False(t, written(t, b.pool, ack, run, "inc-2"), "the same key again is a no-op")
		require.Equal(t, []string{"inc-1"}, strs(t, b.pool, `SELECT result_id FROM rac.acks WHERE run_id = $1`, run))
	})

	t.Run("acks without a key are never deduplicated", func(t *testing.T) {
		run := uuid.New()
		for _, key := range []any{nil, nil, "", ""} {
			require.True(t, written(t, b.pool, `SELECT rac.ack($1, `+incidentsCreate+`, idempotency_key => $2)`, run, key))
		}
		require.Equal(t, 4, count(t, b.pool, `SELECT count(*) FROM rac.acks WHERE run_id = $1 AND idempotency_key IS NULL`, run))
	})

	t.Run("empty strings are stored as NULL", func(t *testing.T) {
		run := uuid.New()
		require.True(t, written(t, b.pool, `SELECT rac.ack($1, `+incidentsCreate+`, '', '', '')`, run))
		require.True(t, written(t, b.pool, `SELECT rac.expect($1, `+incidentsCreate+`, interval '1 s', '')`, run))
		require.Equal(t, 1, count(t, b.pool, `
			SELECT count(*) FROM rac.acks
			WHERE run_id = $1 AND result_id IS NULL AND error IS NULL AND idempotency_key IS NULL`, run))
		require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM rac.expectations WHERE run_id = $1 AND declared_by IS NULL`, run))
	})

	t.Run("an identical redeclaration is a no-op", func(t *testing.T) {
		run := uuid.New()
		require.True(t, written(t, b.pool, `SELECT rac.expect($1, `+incidentsCreate+`, interval '5 s', 'first')`, run))
		require.False(t, written(t, b.pool, `SELECT rac.expect($1, `+incidentsCreate+`, interval '5000 ms', 'second')`, run))
		require.Equal(t, []string{"first"}, strs(t, b.pool, `SELECT declared_by FROM rac.expectations WHERE run_id = $1`, run))
	})

	t.Run("a different deadline conflicts and writes nothing", func(t *testing.T) {
		run := uuid.New()
		require.True(t, written(t, b.pool, `SELECT rac.expect($1, `+incidentsCreate+`, interval '5 s')`, run))
		for _, deadline := range []string{"6 seconds", ""} {
			_, err := b.pool.Exec(b.ctx, `SELECT rac.expect($1, `+incidentsCreate+`, nullif($2, '')::interval)`, run, deadline)
			pgErr := pgError(t, err)
			require.Equal(t, codeConflict, pgErr.Code, pgErr.Message)
			require.Contains(t, pgErr.Message, "deadline")
		}
		require.Equal(t, []string{"5000"}, strs(t, b.pool, `SELECT deadline_ms::text FROM rac.expectations WHERE run_id = $1`, run))
	})

	t.Run("an invalid contract redeclared", func(t *testing.T) {
		run := uuid.New()
		require.True(t, written(t, b.pool, `SELECT rac.expect($1, `+incidentsCreate+`, NULL)`, run))
		require.False(t, written(t, b.pool, `SELECT rac.expect($1, `+incidentsCreate+`, NULL)`, run))
		_, err := b.pool.Exec(b.ctx, `SELECT rac.expect($1, `+incidentsCreate+`, interval '5 s')`, run)
		require.Equal(t, codeConflict, pgError(t, err).Code)
		require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM rac.expectations WHERE run_id = $1 AND deadline_ms IS NULL`, run))
	})

	// A declaration racing an uncommitted one waits for it, then compares
	// with what committed.
	for _, c := range []struct {
		name, deadline string
		code           string // "" for an identical no-op
	}{
		{"a concurrent identical declaration is a no-op", "5 seconds", ""},
		{"a concurrent conflicting declaration raises", "6 seconds", codeConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := uuid.New()
			first, err := b.pool.Begin(b.ctx)
			require.NoError(t, err)
			defer func() { _ = first.Rollback(b.ctx) }()
			require.True(t, written(t, first, `SELECT rac.expect($1, `+incidentsCreate+`, interval '5 s')`, run))

			second, err := b.pool.Acquire(b.ctx)
			require.NoError(t, err)
			var pid uint32
			require.NoError(t, second.QueryRow(b.ctx, `SELECT pg_backend_pid()`).Scan(&pid))
			type outcome struct {
				written bool
				err     error
			}
			done := make(chan outcome, 1)
			go func() {
				defer second.Release()
				var o outcome
				o.err = second.QueryRow(b.ctx, `SELECT rac.expect($1, `+incidentsCreate+`, $2::text::interval)`, run, c.deadline).
					Scan(&o.written)
				done <- o
			}()
			waitForLock(t, b, pid)
			require.NoError(t, first.Commit(b.ctx))
			o := <-done
			if c.code == "" {
				require.NoError(t, o.err)
				require.False(t, o.written)
			} else {
				require.Equal(t, c.code, pgError(t, o.err).Code)
			}
			require.Equal(t, []string{"5000"}, strs(t, b.pool, `SELECT deadline_ms::text FROM rac.expectations WHERE run_id = $1`, run))
		})
	}
}

// waitForLock waits until backend pid waits for a lock.
func waitForLock(t *testing.T, b bundle, pid uint32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for count(t, b.pool, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, pid) == 0 {
		require.True(t, time.Now().Before(deadline), "backend %d never waited for the lock", pid)
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTenantSetting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.pool.Exec(b.ctx, `INSERT INTO rac.tenants (name) VALUES ('acme')`)
	require.NoError(t, err)
	var acme, def int16
	require.NoError(t, b.pool.QueryRow(b.ctx,
		`SELECT (SELECT id FROM rac.tenants WHERE name = 'acme'), (SELECT id FROM rac.tenants WHERE name = 'default')`).
		Scan(&acme, &def))

	conn, err := b.pool.Acquire(b.ctx)
	require.NoError(t, err)
	defer conn.Release()
	tenant := func(setting string) (int16, error) {
		_, err := conn.Exec(b.ctx, `SELECT set_config('rac.tenant', $1, false)`, setting)
		require.NoError(t, err)
		var id int16
		err = conn.QueryRow(b.ctx, `SELECT rac.current_tenant()`).Scan(&id)
		return id, err
	}

	run := uuid.New()
	_, err = conn.Exec(b.ctx, `SET rac.tenant = 'acme'`)
	require.NoError(t, err)
	require.True(t, written(t, conn, `SELECT rac.expect($1, `+incidentsCreate+`, interval '1 hour')`, run))
	require.True(t, written(t, conn, `SELECT rac.ack($1, `+incidentsCreate+`, idempotency_key => 'k')`, run))
	require.False(t, written(t, conn, `SELECT rac.ack($1, `+incidentsCreate+`, idempotency_key => 'k')`, run))
	_, err = conn.Exec(b.ctx, `RESET rac.tenant`)
	require.NoError(t, err)
	// The same key in another tenant is another ack.
	require.True(t, written(t, conn, `SELECT rac.ack($1, `+incidentsCreate+`, idempotency_key => 'k')`, run))

	require.Equal(t, []string{"acme"}, strs(t, b.pool,
		`SELECT t.name FROM rac.expectations e JOIN rac.tenants t ON t.id = e.tenant_id WHERE e.run_id = $1`, run))
	require.Equal(t, []string{"acme", "default"}, strs(t, b.pool,
		`SELECT t.name FROM rac.acks a JOIN rac.tenants t ON t.id = a.tenant_id WHERE a.run_id = $1 ORDER BY 1`, run))

	for setting, want := range map[string]int16{"acme": acme, "default": def, "": def} {
		id, err := tenant(setting)
		require.NoError(t, err, setting)
		require.Equal(t, want, id, "rac.tenant = %q", setting)
	}

	t.Run("an unknown tenant raises RC107 and writes nothing", func(t *testing.T) {
		other := uuid.New()
		_, err := tenant("nope")
		pgErr := pgError(t, err)
		require.Equal(t, codeUnknownTenant, pgErr.Code)
		require.Contains(t, pgErr.Message, "tenant")
		require.Contains(t, pgErr.Message, "nope")
		for _, sql := range []string{
			`SELECT rac.expect($1, ` + incidentsCreate + `, interval '1 hour')`,
			`SELECT rac.ack($1, ` + incidentsCreate + `)`,
		} {
			_, err := conn.Exec(b.ctx, sql, other)
			require.Equal(t, codeUnknownTenant, pgError(t, err).Code, sql)
		}
		e, a := rowsOf(t, b.pool, other)
		require.Zero(t, e+a)
	})
}

// loginRole creates a login role that is a member of group, dropped when the
// test ends, and returns a pool logged in as it.
func loginRole(t *testing.T, b bundle, group string) (*pgxpool.Pool, string) {
	t.Helper()
	u, name := pgtest.LoginRole(t, b.db, group)
	return openPool(t, u), name
}

// denied checks that role's pool may not run sql.
func denied(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql, args...)
	pgErr := pgError(t, err)
	require.Equal(t, codeNoPrivilege, pgErr.Code, "%s: %s", sql, pgErr.Message)
}

// settle waits until every ledger row written so far is final (the
// horizon is cluster-wide: other tests' transactions hold it back too).
func settle(t *testing.T, b bundle) {
	t.Helper()
	pgtest.WaitFinal(t, b.pool)
}

func TestRoles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	writer, _ := loginRole(t, b, "rac_writer")
	auditor, _ := loginRole(t, b, "rac_auditor")
	recPool, recName := loginRole(t, b, "rac_reconciler")

	// Fixtures: drift (an ack never expected) and a run whose deadline
	// passed an hour ago.
	drift, late := uuid.New(), uuid.New()
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO rac.expectations (run_id, action_id, declared_at, deadline_ms, deadline_at)
		SELECT $1, c.id, clock_timestamp() - interval '1 hour', 1000, clock_timestamp() - interval '1 hour' + interval '1 s'
		FROM rac.contract_actions c WHERE c.domain = 'orchestrator' AND c.action = 'finalize_run'`, late)
	require.NoError(t, err)

	t.Run("the writer calls the write functions", func(t *testing.T) {
		tx, err := writer.Begin(b.ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(b.ctx) }()
		run := uuid.New()
		require.True(t, written(t, tx, `SELECT rac.expect($1, `+incidentsCreate+`, interval '1 hour')`, run))
		require.True(t, written(t, tx, `SELECT rac.ack($1, `+incidentsCreate+`, 'inc-1')`, run))
		require.True(t, written(t, tx, `SELECT rac.ack($1, 'policies', 'evaluate_policy')`, drift))
		require.Equal(t, 1, count(t, tx, `SELECT rac.current_tenant()`))
		require.NoError(t, tx.Commit(b.ctx))
		e, a := rowsOf(t, b.pool, run)
		require.Equal(t, [2]int{1, 1}, [2]int{e, a})
	})

	t.Run("the writer may do nothing else", func(t *testing.T) {
		run := uuid.New()
		for _, sql := range []string{
			`SELECT result_id, metadata FROM rac.acks`,
			`SELECT * FROM rac.acks`,
			`SELECT declared_by, metadata FROM rac.expectations`,
			`SELECT 1 FROM rac.findings`,
			`SELECT 1 FROM rac.finding_resolutions`,
			`SELECT 1 FROM rac.open_findings`,
			`SELECT 1 FROM rac.run_status`,
			`SELECT rac.action_state(true, NULL, NULL, NULL, now(), interval '0')`,
		} {
			denied(t, writer, sql)
		}
		// The library's inserts are allowed (TestLibraryWriter); the columns
		// the server stamps are not the writer's to choose.
		denied(t, writer, `INSERT INTO rac.acks (id, run_id, action_id) OVERRIDING SYSTEM VALUE VALUES (1, $1, 1)`, run)
		denied(t, writer, `INSERT INTO rac.acks (tx_id, run_id, action_id) VALUES (1, $1, 1)`, run)
		denied(t, writer, `INSERT INTO rac.acks (acked_at, run_id, action_id) VALUES (now(), $1, 1)`, run)
		denied(t, writer, `INSERT INTO rac.expectations (id, run_id, action_id, deadline_ms, deadline_at)
			OVERRIDING SYSTEM VALUE VALUES (1, $1, 1, 1, now())`, run)
		denied(t, writer, `INSERT INTO rac.expectations (tx_id, run_id, action_id, deadline_ms, deadline_at) VALUES (1, $1, 1, 1, now())`, run)
		denied(t, writer, `INSERT INTO rac.contract_actions (domain, action) VALUES ('x', 'y')`)
		denied(t, writer, `INSERT INTO rac.tenants (name) VALUES ('x')`)
		denied(t, writer, `UPDATE rac.acks SET error = 'x'`)
	})

	t.Run("the reconciler runs a pass", func(t *testing.T) {
		rec, err := reconciler.New(recPool, reconciler.Options{Name: recName})
		require.NoError(t, err)

		res, err := rec.ReconcileRun(b.ctx, late)
		require.NoError(t, err)
		require.True(t, res.Stale, "finalize_run missing: the run is stale")
		require.True(t, written(t, writer, `SELECT rac.ack($1, 'orchestrator', 'finalize_run')`, late))
		res, err = rec.ReconcileRun(b.ctx, late)
		require.NoError(t, err)
		require.Equal(t, []reconciler.Ref{{Domain: "orchestrator", Action: "finalize_run"}}, res.Late)

		settle(t, b)
		sum, err := rec.RunOnce(b.ctx)
		require.NoError(t, err)
		require.Positive(t, sum.FindingsRecorded+sum.ResolutionsRecorded+sum.VerdictsRecorded, "%+v", sum)

		require.Equal(t, []string{"policies/evaluate_policy:drift"}, strs(t, b.pool, `
			SELECT c.domain || '/' || c.action || ':' || f.kind
			FROM rac.findings f JOIN rac.contract_actions c ON c.id = f.action_id WHERE f.run_id = $1`, drift))
		require.Equal(t, []string{"late", "missing", "stale"}, strs(t, b.pool,
			`SELECT kind FROM rac.findings WHERE run_id = $1 ORDER BY kind`, late))
		require.Equal(t, 2, count(t, b.pool, `
			SELECT count(*) FROM rac.finding_resolutions r JOIN rac.findings f ON f.id = r.finding_id WHERE f.run_id = $1`, late),
			"the late ack resolved missing and stale")
		require.Positive(t, count(t, b.pool,
			`SELECT count(*) FROM rac.reconciliations WHERE reconciler = $1 AND scope = 'pass' AND final`, recName))

		for _, sql := range []string{
			`SELECT rac.ack(gen_random_uuid(), ` + incidentsCreate + `)`,
			`INSERT INTO rac.acks (run_id, action_id) VALUES (gen_random_uuid(), 1)`,
			`INSERT INTO rac.expectations (run_id, action_id) VALUES (gen_random_uuid(), 1)`,
			`INSERT INTO rac.tenants (name) VALUES ('intruder')`,
		} {
			denied(t, recPool, sql)
		}
	})

	t.Run("the auditor reads the report views and nothing else", func(t *testing.T) {
		require.Equal(t, 1, count(t, auditor, `SELECT count(*) FROM rac.open_findings WHERE run_id = $1 AND kind = 'drift'`, drift))
		require.Equal(t, 1, count(t, auditor, `SELECT count(*) FROM rac.run_status WHERE run_id = $1 AND verdict = 'violated'`, drift))
		for _, sql := range []string{
			`SELECT rac.ack(gen_random_uuid(), ` + incidentsCreate + `)`,
			`SELECT rac.expect(gen_random_uuid(), ` + incidentsCreate + `, interval '1 s')`,
			`SELECT 1 FROM rac.acks`,
			`SELECT 1 FROM rac.findings`,
			`INSERT INTO rac.acks (run_id, action_id) VALUES (gen_random_uuid(), 1)`,
			`INSERT INTO rac.findings (reconciliation_id, violated_at, run_id, tenant_id, action_id, kind)
			 VALUES (1, now(), gen_random_uuid(), 1, 1, 'drift')`,
		} {
			denied(t, auditor, sql)
		}
	})

	t.Run("nobody updates or deletes a ledger row", func(t *testing.T) {
		for _, pool := range []*pgxpool.Pool{writer, auditor, recPool} {
			for _, sql := range []string{
				`UPDATE rac.acks SET result_id = 'forged'`,
				`DELETE FROM rac.acks`,
				`UPDATE rac.expectations SET deadline_ms = 1, deadline_at = declared_at`,
				`DELETE FROM rac.expectations`,
				`UPDATE rac.findings SET kind = 'late'`,
				`DELETE FROM rac.findings`,
				`DELETE FROM rac.finding_resolutions`,
				`UPDATE rac.run_verdicts SET verdict = 'clean'`,
				`DELETE FROM rac.reconciliations`,
				`TRUNCATE rac.acks`,
				`TRUNCATE rac.findings`,
			} {
				denied(t, pool, sql)
			}
		}
		require.Equal(t, 3, count(t, b.pool, `SELECT count(*) FROM rac.acks`), "every ack is still there")
	})

	t.Run("a mistaken grant still meets the append-only triggers", func(t *testing.T) {
		// PUBLIC may not execute rac.refuse_mutation, yet its triggers fire
		// for every role: trigger functions are not checked when they fire.
		misgranted, name := loginRole(t, b, "rac_auditor")
		_, err := b.pool.Exec(b.ctx, `GRANT UPDATE, DELETE ON rac.acks TO `+pgx.Identifier{name}.Sanitize())
		require.NoError(t, err)
		for _, sql := range []string{`UPDATE rac.acks SET result_id = 'forged'`, `DELETE FROM rac.acks`} {
			_, err := misgranted.Exec(b.ctx, sql)
			require.Equal(t, codeAppendOnly, pgError(t, err).Code, sql)
		}
	})
}

// TestPrivileges checks the grants in the catalog, for every relation and
// function of schema rac, including ones added after this test was written.
func TestPrivileges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	privileges := func(role string, kinds string) []string {
		return strs(t, b.pool, `
			SELECT c.relname || ':' || p.privilege
			FROM pg_class c,
			     unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p (privilege)
			WHERE c.relnamespace = 'rac'::regnamespace AND c.relkind = ANY (string_to_array($2, ','))
			  AND has_table_privilege($1, c.oid, p.privilege)
			ORDER BY 1`, role, kinds)
	}
	executable := func(role string) []string {
		return strs(t, b.pool, `
			SELECT p.proname::text FROM pg_proc p
			WHERE p.pronamespace = 'rac'::regnamespace AND has_function_privilege($1, p.oid, 'EXECUTE')
			ORDER BY 1`, role)
	}

	t.Run("no role may change history", func(t *testing.T) {
		for _, role := range []string{"rac_writer", "rac_reconciler", "rac_auditor", "public"} {
			for _, p := range privileges(role, "r,p,v,m") {
				require.Regexp(t, `:(SELECT|INSERT)$`, p, role)
			}
		}
	})

	t.Run("the writer reads the catalog and executes the write functions", func(t *testing.T) {
		// tenant_roles: the write policies read it (00016).
		// Table-level privileges only on the catalog; the ledger tables'
		// are column privileges (TestLibraryWriter).
		require.Equal(t, []string{"authors:SELECT", "contract_actions:SELECT", "domain_roles:SELECT", "tenant_roles:SELECT", "tenants:SELECT"},
			privileges("rac_writer", "r,p,v,m,S"))
		// advance_phase and governance_check: run orchestration (00013).
		require.Equal(t, []string{"ack", "advance_phase", "author_id", "current_tenant", "domain_actions", "domain_refusals", "domain_scope", "expect",
			"governance_check", "is_session_author", "sees_every_tenant", "sees_whole_ledger", "tenant_scope"}, executable("rac_writer"))
	})

	t.Run("public executes only the tenant scope functions", func(t *testing.T) {
		// Row-level security policies and the report views call
		// rac.tenant_scope as the querying role, and passes and seals ask
		// rac.sees_whole_ledger (through rac.sees_every_tenant, 00014);
		// they tell a session only about itself.
		// Every writer's policies look up its author and its domains
		// (rac.author_id registers the session's own login, the domain
		// functions answer for the session only); role names and the
		// domain mapping are no secret (pg_roles shows every role).
		require.Equal(t, []string{"author_id", "domain_actions", "domain_refusals", "domain_scope", "is_session_author",
			"sees_every_tenant", "sees_whole_ledger", "tenant_scope"}, executable("public"))
		require.Equal(t, []string{"authors:SELECT", "domain_roles:SELECT"}, privileges("public", "r,p,v,m,S"))
	})

	t.Run("the auditor reads views only", func(t *testing.T) {
		// No ledger table: only the two catalogs everyone reads.
		require.Equal(t, []string{"authors:SELECT", "domain_roles:SELECT"}, privileges("rac_auditor", "r,p,m,S"),
			"no table privilege")
		got := privileges("rac_auditor", "v")
		for _, p := range got {
			require.Regexp(t, `:SELECT$`, p)
		}
		require.Subset(t, got, []string{"open_findings:SELECT", "run_status:SELECT"})
		// The evidence views of rac verify, prove and export (00014).
		require.Subset(t, got, []string{"audit_acks:SELECT", "audit_expectations:SELECT", "audit_findings:SELECT",
			"audit_reconciliations:SELECT", "audit_resolutions:SELECT", "audit_seal_chunks:SELECT", "audit_seals:SELECT",
			"audit_tenants:SELECT", "audit_verdicts:SELECT"})
		// schema_version: rac export's manifest (00014).
		require.Equal(t, []string{"action_state", "author_id", "domain_actions", "domain_refusals", "domain_scope", "is_session_author", "schema_version",
			"sees_every_tenant", "sees_whole_ledger", "tenant_scope"}, executable("rac_auditor"))
	})

	t.Run("the reconciler reads the ledger and appends history", func(t *testing.T) {
		got := privileges("rac_reconciler", "r,p")
		var inserts []string
		for _, p := range got {
			if strings.HasSuffix(p, ":INSERT") {
				inserts = append(inserts, strings.TrimSuffix(p, ":INSERT"))
			}
		}
		require.Equal(t, []string{"finding_resolutions", "findings", "reconciliations", "run_verdicts", "seal_chunks", "seals"}, inserts)
		for _, table := range []string{"acks", "contract_actions", "expectations", "tenants"} {
			require.Contains(t, got, table+":SELECT")
		}
		require.Equal(t, []string{"action_state", "author_id", "domain_actions", "domain_refusals", "domain_scope", "is_session_author", "schema_version",
			"sees_every_tenant", "sees_whole_ledger", "tenant_scope"}, executable("rac_reconciler"))
	})
}

func TestDownReversesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, m := emptyMigrator(t)

	_, err := m.UpTo(ctx, 2)
	require.NoError(t, err)
	before := pgtest.Grants(t, pool)

	_, err = m.UpTo(ctx, 3)
	require.NoError(t, err)
	up := pgtest.Grants(t, pool)
	require.NotEqual(t, before, up)
	require.True(t, slices.ContainsFunc(up, func(s string) bool { return strings.HasPrefix(s, "function rac.ack(") }))

	_, err = m.DownTo(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, before, pgtest.Grants(t, pool), "down grants exactly what was granted before up")
	require.Equal(t, 3, count(t, pool,
		`SELECT count(*) FROM pg_roles WHERE rolname IN ('rac_writer', 'rac_reconciler', 'rac_auditor')`),
		"the roles are cluster-wide: down keeps them")

	// Up again, now that the roles exist.
	_, err = m.UpTo(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, up, pgtest.Grants(t, pool))
	require.Equal(t, len(ledger.StandardRun(time.Second)), count(t, pool, `SELECT count(*) FROM rac.contract_actions`))
}
