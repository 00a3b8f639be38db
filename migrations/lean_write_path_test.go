package migrations_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// leanWritePath is the migration that drops the foreign keys of rac.acks
// and rac.expectations and moves their integrity into the write policies.
const leanWritePath = 16

// Direct inserts as a login in rac_writer, the role a service writes
// with: without foreign keys, an unknown tenant or action is refused all
// the same, whether or not anyone is pinned to tenants or domains.
func TestWritePoliciesRefuseUnknownIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	writer, _ := loginRole(t, b, "rac_writer")

	const ack = `INSERT INTO rac.acks (tenant_id, run_id, action_id, author_id)
		VALUES ($1, gen_random_uuid(), $2, (SELECT rac.author_id()))`
	const expectation = `INSERT INTO rac.expectations (tenant_id, run_id, action_id, author_id, deadline_ms, declared_at, deadline_at)
		SELECT $1, gen_random_uuid(), $2, (SELECT rac.author_id()), 1000, c.now, c.now + interval '1 s'
		FROM (SELECT clock_timestamp() AS now) c`
	const unknownTenant, unknownAction = int16(999), int16(999)

	refusesUnknown := func(t *testing.T) {
		t.Helper()
		for _, sql := range []string{ack, expectation} {
			_, err := writer.Exec(b.ctx, sql, int16(1), int16(1))
			require.NoError(t, err, "known ids: %s", sql)
			_, err = writer.Exec(b.ctx, sql, int16(1), unknownAction)
			require.Equal(t, codeNoPrivilege, pgError(t, err).Code, "unknown action: %s", sql)
			_, err = writer.Exec(b.ctx, sql, unknownTenant, int16(1))
			require.Equal(t, codeNoPrivilege, pgError(t, err).Code, "unknown tenant: %s", sql)
		}
	}

	t.Run("nothing pinned", refusesUnknown)

	// Another role pinned to a tenant and a domain: the policies leave
	// their fast path, and this unpinned writer is still held to known ids.
	_, err := b.pool.Exec(b.ctx, `INSERT INTO rac.tenant_roles (role_name, tenant_id) VALUES ('someone_else', 1)`)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `INSERT INTO rac.domain_roles (role_name, domain, privilege)
		VALUES ('someone_else', 'incidents', 'ack'), ('someone_else', 'incidents', 'expect')`)
	require.NoError(t, err)
	t.Run("others pinned", refusesUnknown)

	require.Zero(t, count(t, b.pool, `SELECT count(*) FROM rac.acks WHERE tenant_id = $1 OR action_id = $2`,
		unknownTenant, unknownAction))
	require.Zero(t, count(t, b.pool, `SELECT count(*) FROM rac.expectations WHERE tenant_id = $1 OR action_id = $2`,
		unknownTenant, unknownAction))
}

// An ack takes no lock on the catalog rows it names: while the writer's
// transaction is open, neither its tenant's row nor its action's row
// carries the writer's transaction id as a locker (a foreign key's FOR KEY
// SHARE did, and concurrent writers made it a multixact).
func TestAckLocksNoSharedRow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	writer, _ := loginRole(t, b, "rac_writer")

	tx, err := writer.Begin(b.ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	_, err = tx.Exec(b.ctx, `INSERT INTO rac.acks (run_id, action_id, author_id) VALUES (gen_random_uuid(), 1, (SELECT rac.author_id()))`)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `INSERT INTO rac.expectations (run_id, action_id, author_id, deadline_ms, declared_at, deadline_at)
		SELECT gen_random_uuid(), 1, (SELECT rac.author_id()), 1000, c.now, c.now + interval '1 s'
		FROM (SELECT clock_timestamp() AS now) c`)
	require.NoError(t, err)

	var tenantLocker, actionLocker string
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT (SELECT xmax::text FROM rac.tenants WHERE id = 1),
		       (SELECT xmax::text FROM rac.contract_actions WHERE id = 1)`).Scan(&tenantLocker, &actionLocker))
	require.Equal(t, "0", tenantLocker, "the tenant row is not locked")
	require.Equal(t, "0", actionLocker, "the action row is not locked")
}

// A login with rac_writer's grants alone cannot choose an id: it holds no
// INSERT on id, so OVERRIDING SYSTEM VALUE is refused before any row
// (the identity guard fires only for roles that could; see
// TestIdentityIDsAreTheSequences for a role granted table-wide INSERT).
func TestWriterCannotChooseIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	writer, _ := loginRole(t, b, "rac_writer")
	denied(t, writer, `INSERT INTO rac.acks (id, run_id, action_id, author_id) OVERRIDING SYSTEM VALUE
		VALUES (1 << 40, gen_random_uuid(), 1, (SELECT rac.author_id()))`)
	denied(t, writer, `INSERT INTO rac.expectations (id, run_id, action_id, author_id, deadline_ms, declared_at, deadline_at)
		OVERRIDING SYSTEM VALUE
		SELECT 1 << 40, gen_random_uuid(), 1, (SELECT rac.author_id()), 1000, c.now, c.now + interval '1 s'
		FROM (SELECT clock_timestamp() AS now) c`)
	var n int
	require.NoError(t, writer.QueryRow(b.ctx, `WITH i AS (
		INSERT INTO rac.acks (run_id, action_id, author_id) VALUES (gen_random_uuid(), 1, (SELECT rac.author_id()))
		RETURNING 1) SELECT count(*) FROM i`).Scan(&n))
	require.Equal(t, 1, n, "the default id still works")
}

// Down restores 00015's constraints, triggers, policies and grants
// exactly, and up again gives 00016's.
func TestLeanWritePathDownRestores(t *testing.T) {
	t.Parallel()
	requireDownRestores(t, leanWritePath)
}
