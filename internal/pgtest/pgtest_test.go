package pgtest_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, connString)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	return conn
}

func TestNewPoolIsMigrated(t *testing.T) {
	pool := pgtest.NewPool(t)
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM rac.contract_actions`).Scan(&n))
	assert.Equal(t, 5, n)
}

func TestPoolsAreIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := pgtest.NewPool(t), pgtest.NewPool(t)

	var nameA, nameB string
	require.NoError(t, a.QueryRow(ctx, `SELECT current_database()`).Scan(&nameA))
	require.NoError(t, b.QueryRow(ctx, `SELECT current_database()`).Scan(&nameB))
	assert.NotEqual(t, nameA, nameB)

	_, err := a.Exec(ctx, `INSERT INTO rac.tenants (name) VALUES ('only_in_a')`)
	require.NoError(t, err)
	var inA, inB int
	require.NoError(t, a.QueryRow(ctx, `SELECT count(*) FROM rac.tenants WHERE name = 'only_in_a'`).Scan(&inA))
	require.NoError(t, b.QueryRow(ctx, `SELECT count(*) FROM rac.tenants WHERE name = 'only_in_a'`).Scan(&inB))
	assert.Equal(t, 1, inA)
	assert.Equal(t, 0, inB)
}

func TestCommitsAreDurable(t *testing.T) {
	pool := pgtest.NewPool(t)
	for _, name := range []string{"fsync", "synchronous_commit"} {
		var v string
		require.NoError(t, pool.QueryRow(context.Background(), "SHOW "+name).Scan(&v))
		assert.Equal(t, "on", v, name)
	}
}

func TestNewEmptyDatabaseHasNoSchema(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewEmptyDatabase(t)
	conn := connect(t, db.URL)

	var hasRac, hasGoose bool
	require.NoError(t, conn.QueryRow(ctx,
		`SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'rac'),
		        to_regclass($1) IS NOT NULL`, "public."+migrate.TableName).Scan(&hasRac, &hasGoose))
	assert.False(t, hasRac, "rac schema")
	assert.False(t, hasGoose, "goose version table")
}

func TestDatabaseURLs(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	user := connect(t, db.URL)
	admin := connect(t, db.Admin())

	var userDB, adminDB string
	var userPID uint32
	require.NoError(t, user.QueryRow(ctx, `SELECT current_database(), pg_backend_pid()`).Scan(&userDB, &userPID))
	require.NoError(t, admin.QueryRow(ctx, `SELECT current_database()`).Scan(&adminDB))
	assert.Equal(t, db.Name, userDB)
	assert.Equal(t, db.Name, adminDB)

	var terminated bool
	require.NoError(t, admin.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, userPID).Scan(&terminated))
	assert.True(t, terminated)
	assert.Error(t, user.Ping(ctx), "terminated connection")
}

func TestPoolServesFiftyGoroutines(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Every goroutine holds its connection until all 50 are in, proving
	// the pool and the server allow that many at once.
	const n = 50
	var all, done sync.WaitGroup
	all.Add(n)
	errs := make(chan error, n)
	for range n {
		done.Go(func() {
			conn, err := pool.Acquire(ctx)
			all.Done()
			if err != nil {
				errs <- err
				return
			}
			defer conn.Release()
			all.Wait()
			_, err = conn.Exec(ctx, `SELECT pg_sleep(0.01)`)
			errs <- err
		})
	}
	done.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestDatabaseIsDroppedAfterTest(t *testing.T) {
	ctx := context.Background()
	var name string
	t.Run("uses a pool", func(t *testing.T) {
		pool := pgtest.NewPool(t)
		require.NoError(t, pool.QueryRow(ctx, `SELECT current_database()`).Scan(&name))
	})
	require.NotEmpty(t, name)

	other := connect(t, pgtest.NewEmptyDatabase(t).Admin())
	var exists bool
	require.NoError(t, other.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists))
	assert.False(t, exists, "database %s still exists", name)
}

func TestLoginRole(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	admin := connect(t, db.Admin())
	var name string
	t.Run("logs in as a new member of the roles", func(t *testing.T) {
		var roleURL string
		roleURL, name = pgtest.LoginRole(t, db, "rac_writer", "rac_auditor")
		conn := connect(t, roleURL)
		var user, database string
		var writer, auditor, waiver, super bool
		require.NoError(t, conn.QueryRow(ctx, `
			SELECT current_user, current_database(),
			       pg_has_role('rac_writer', 'MEMBER'), pg_has_role('rac_auditor', 'MEMBER'),
			       pg_has_role('rac_waiver', 'MEMBER'), rolsuper
			FROM pg_roles WHERE rolname = current_user`).Scan(&user, &database, &writer, &auditor, &waiver, &super))
		assert.Equal(t, name, user)
		assert.Equal(t, db.Name, database)
		assert.True(t, writer, "member of rac_writer")
		assert.True(t, auditor, "member of rac_auditor")
		assert.False(t, waiver, "not a member of rac_waiver")
		assert.False(t, super, "not a superuser")

		// Something the role owns, for DROP OWNED to remove.
		_, err := admin.Exec(ctx, `GRANT CREATE ON SCHEMA public TO `+pgx.Identifier{name}.Sanitize())
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `CREATE TABLE public.owned_by_login_role (v int)`)
		require.NoError(t, err)
	})
	require.NotEmpty(t, name)
	var exists, owned bool
	require.NoError(t, admin.QueryRow(ctx, `
		SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1),
		       to_regclass('public.owned_by_login_role') IS NOT NULL`, name).Scan(&exists, &owned))
	assert.False(t, exists, "role %s is dropped after the test", name)
	assert.False(t, owned, "what the role owned is dropped with it")
}

func TestGrants(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	before := pgtest.Grants(t, pool)
	assert.True(t, slices.IsSorted(before), "sorted")
	assert.Contains(t, before, "schema rac rac_auditor=USAGE")

	_, err := pool.Exec(ctx, `CREATE FUNCTION rac.no_grants() RETURNS int LANGUAGE sql AS 'SELECT 1';
		REVOKE ALL ON FUNCTION rac.no_grants() FROM PUBLIC, CURRENT_USER`)
	require.NoError(t, err)
	assert.Contains(t, pgtest.Grants(t, pool), "function rac.no_grants() ", "an object without privileges is listed")

	_, err = pool.Exec(ctx, `GRANT EXECUTE ON FUNCTION rac.no_grants() TO rac_auditor`)
	require.NoError(t, err)
	after := pgtest.Grants(t, pool)
	assert.Contains(t, after, "function rac.no_grants() rac_auditor=EXECUTE")
	assert.NotContains(t, after, "function rac.no_grants() ")
}

// BenchmarkNewDatabase measures the per-test cost of cloning the migrated
// template (the clones are dropped together when the benchmark ends).
func BenchmarkNewDatabase(b *testing.B) {
	pgtest.NewDatabase(b) // discovery and template creation happen once, outside the timing
	for b.Loop() {
		pgtest.NewDatabase(b)
	}
}
