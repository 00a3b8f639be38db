package migrations_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/ledger"
)

// A service logged in as a member of rac_writer, and nothing else, writes
// through the Go library: declarations, acks, an idempotent retry, a
// refused redeclaration that leaves its transaction usable, and a tenant
// named by rac.tenant.
func TestLibraryWriter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	writer, _ := loginRole(t, b, "rac_writer")
	on := true
	l := ledger.New(ledger.Options{Enabled: &on})

	run := uuid.New()
	tx, err := writer.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	require.NoError(t, l.Expect(b.ctx, tx, run, ledger.StandardRun(time.Hour)...))
	require.NoError(t, l.Expect(b.ctx, tx, run, ledger.StandardRun(time.Hour)...), "an identical redeclaration is a no-op")
	err = l.Expect(b.ctx, tx, run, ledger.StandardRun(2*time.Hour)...)
	require.True(t, errors.Is(err, ledger.ErrConflict), "%v", err)
	ack := ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident, ResultID: "inc-1", IdempotencyKey: "k1"}
	require.NoError(t, l.Ack(b.ctx, tx, ack))
	require.NoError(t, l.Ack(b.ctx, tx, ack), "the same key again is a no-op")
	require.NoError(t, l.Ack(b.ctx, tx,
		ledger.Ack{RunID: run, Domain: ledger.Policies, Action: ledger.EvaluatePolicy, Error: "engine down"},
		ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.StartTrace}))
	require.NoError(t, tx.Commit(b.ctx))

	e, a := rowsOf(t, b.pool, run)
	require.Equal(t, [2]int{5, 3}, [2]int{e, a})
	var declaredOK bool
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT bool_and(tx_id > 0 AND deadline_at = declared_at + interval '1 hour') FROM rac.expectations WHERE run_id = $1`,
		run).Scan(&declaredOK))
	require.True(t, declaredOK, "server-stamped columns")

	t.Run("in a tenant named by rac.tenant", func(t *testing.T) {
		_, err := b.pool.Exec(b.ctx, `INSERT INTO rac.tenants (name) VALUES ('shop')`)
		require.NoError(t, err)
		shop := ledger.New(ledger.Options{Enabled: &on, Tenant: "shop"})
		run := uuid.New()
		tx, err := writer.Begin(b.ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(b.ctx) }()
		_, err = tx.Exec(b.ctx, `SELECT set_config('rac.tenant', 'shop', true)`)
		require.NoError(t, err)
		require.NoError(t, shop.Expect(b.ctx, tx, run, ledger.StandardRun(time.Hour)...))
		require.NoError(t, shop.Ack(b.ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident}))
		require.NoError(t, tx.Commit(b.ctx))
		require.Equal(t, 6, count(t, b.pool,
			`SELECT count(*) FROM rac.expectations e JOIN rac.tenants t ON t.id = e.tenant_id WHERE t.name = 'shop' AND e.run_id = $1`,
			run)+count(t, b.pool, `SELECT count(*) FROM rac.acks WHERE run_id = $1`, run))
	})
}
