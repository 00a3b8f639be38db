package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// writeCleanRun declares a standard run and acks all of it on time, in one
// transaction, and returns its id.
func writeCleanRun(t *testing.T, pool *pgxpool.Pool) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	l, run := newLedger(), uuid.New()
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := l.Expect(ctx, tx, run, ledger.StandardRun(time.Hour)...); err != nil {
			return err
		}
		var acks []ledger.Ack
		for _, e := range ledger.StandardRun(time.Hour) {
			acks = append(acks, ledger.Ack{RunID: run, Domain: e.Domain, Action: e.Action, ResultID: "r-" + string(e.Action)})
		}
		return l.Ack(ctx, tx, acks...)
	}))
	return run
}

// writeDriftAck acks incidents/create_incident for a run that never
// expected it, and returns the run's id.
func writeDriftAck(t *testing.T, pool *pgxpool.Pool) uuid.UUID {
	t.Helper()
	run := uuid.New()
	require.NoError(t, newLedger().Ack(context.Background(), pool,
		ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident, ResultID: "inc-1"}))
	return run
}

func TestReconcileOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)

	t.Run("a clean ledger exits 0", func(t *testing.T) {
		writeCleanRun(t, pool)
		settle(t, pool)
		res := rac(ctx, dbEnv(db.URL), "reconcile", "--once")
		require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
		require.Contains(t, res.stdout, "open findings   none")
	})

	t.Run("a drift ack exits 3", func(t *testing.T) {
		writeDriftAck(t, pool)
		settle(t, pool)
		res := rac(ctx, map[string]string{"RAC_GRACE": "1s"}, "reconcile", "--once", "--batch-size", "10", "--database-url", db.URL)
		require.Equal(t, exitViolated, res.code, res.stdout+res.stderr)
		require.Contains(t, res.stdout, "findings        1 recorded: drift 1")
		require.Contains(t, res.stdout, "open findings   1: drift 1")
	})

	t.Run("the finding stays open on the next pass", func(t *testing.T) {
		res := rac(ctx, dbEnv(db.URL), "reconcile", "--once")
		require.Equal(t, exitViolated, res.code, res.stdout+res.stderr)
		require.Contains(t, res.stdout, "findings        0 recorded")
	})
}

func TestReconcileEveryStopsCleanly(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- rac(ctx, dbEnv(db.URL), "reconcile", "--every", "50ms") }()

	// Wait for at least two passes, then stop it as SIGINT would.
	require.Eventually(t, func() bool {
		var passes int
		err := pool.QueryRow(context.Background(), `SELECT count(DISTINCT pass_id) FROM rac.reconciliations`).Scan(&passes)
		return err == nil && passes >= 2
	}, 30*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case res := <-done:
		require.Equal(t, exitOK, res.code, res.stderr)
	case <-time.After(30 * time.Second):
		t.Fatal("rac reconcile --every did not stop after cancellation")
	}
}
