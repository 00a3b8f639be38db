package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// The library remembers a connection's author only once the author is
// committed: a new login's first expectations and acks, in a transaction that rolls back
// and in one that commits, and every ack after, on one connection and on
// another, record the login's own committed author; nothing is refused.
func TestAckAuthorOnEachConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	admin, err := pgxpool.New(ctx, db.URL)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	roleURL, name := pgtest.LoginRole(t, db, "rac_writer")
	on := true
	l := ledger.New(ledger.Options{Registerer: prometheus.NewRegistry(), Enabled: &on})

	connect := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, roleURL)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		return c
	}
	ack := func(tx pgx.Tx) uuid.UUID {
		run := uuid.New()
		require.NoError(t, l.Expect(ctx, tx, run, ledger.Expectation{Domain: ledger.Incidents, Action: ledger.CreateIncident,
			Deadline: time.Minute}))
		require.NoError(t, l.Ack(ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident}))
		return run
	}
	inTx := func(c *pgx.Conn, commit bool, acks int) []uuid.UUID {
		tx, err := c.Begin(ctx)
		require.NoError(t, err)
		var runs []uuid.UUID
		for range acks {
			runs = append(runs, ack(tx))
		}
		if commit {
			require.NoError(t, tx.Commit(ctx))
		} else {
			require.NoError(t, tx.Rollback(ctx))
		}
		return runs
	}

	first := connect()
	inTx(first, false, 2) // registers the login, then rolls it back
	var runs []uuid.UUID
	runs = append(runs, inTx(first, true, 2)...) // registers it for good
	runs = append(runs, inTx(first, true, 3)...) // the cache's first use
	second := connect()
	runs = append(runs, inTx(second, true, 2)...)
	runs = append(runs, inTx(first, true, 1)...)

	var authors []int32
	rows, err := admin.Query(ctx, `SELECT id FROM rac.authors WHERE role_name = $1 ORDER BY id`, name)
	require.NoError(t, err)
	authors, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Len(t, authors, 1, "one committed registration")

	var recorded []int32
	rows, err = admin.Query(ctx, `SELECT author_id FROM rac.acks WHERE run_id = ANY ($1)
		UNION SELECT author_id FROM rac.expectations WHERE run_id = ANY ($1)`, runs)
	require.NoError(t, err)
	recorded, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Equal(t, authors, recorded, "every ack and expectation names the login's author")
	var n int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM rac.acks`).Scan(&n))
	require.Equal(t, len(runs), n, "the rolled-back acks are gone, every committed one is there")
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM rac.expectations`).Scan(&n))
	require.Equal(t, len(runs), n, "and so are the expectations")
}
