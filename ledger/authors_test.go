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

// TestAuthorCacheSimulation drives several connections of two new logins
// through interleaved transactions (one goroutine, many open at once, in
// an order drawn from a seed): expectations and acks, commits and
// rollbacks, first writes racing to register the login. Nothing may be
// refused, and at the end the stored rows must be exactly those of the
// committed transactions, each naming a rac.authors id of the login that
// wrote it. RAC_SIM_SEED replays a seed.
func TestAuthorCacheSimulation(t *testing.T) {
	t.Parallel()
	rng, _ := simRand(t)

	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	admin, err := pgxpool.New(ctx, db.URL)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	on := true
	l := ledger.New(ledger.Options{Registerer: prometheus.NewRegistry(), Enabled: &on})

	type session struct {
		role    string
		conn    *pgx.Conn
		tx      pgx.Tx
		pending []uuid.UUID // runs written by the open transaction
	}
	var sessions []*session
	for range 2 {
		u, name := pgtest.LoginRole(t, db, "rac_writer")
		for range 3 {
			c, err := pgx.Connect(ctx, u)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close(context.Background()) })
			sessions = append(sessions, &session{role: name, conn: c})
		}
	}

	committed := map[uuid.UUID]string{} // run -> the role that wrote it
	for step := range 400 {
		s := sessions[rng.IntN(len(sessions))]
		if s.tx == nil {
			s.tx, err = s.conn.Begin(ctx)
			require.NoError(t, err)
		}
		switch r := rng.IntN(10); {
		case r < 6: // write a run's expectation and ack
			run := uuid.New()
			require.NoError(t, l.Expect(ctx, s.tx, run, ledger.Expectation{Domain: ledger.Incidents,
				Action: ledger.CreateIncident, Deadline: time.Minute}), "step %d", step)
			require.NoError(t, l.Ack(ctx, s.tx, ledger.Ack{RunID: run, Domain: ledger.Incidents,
				Action: ledger.CreateIncident}), "step %d", step)
			s.pending = append(s.pending, run)
		case r < 8:
			require.NoError(t, s.tx.Commit(ctx), "step %d", step)
			for _, run := range s.pending {
				committed[run] = s.role
			}
			s.tx, s.pending = nil, nil
		default:
			require.NoError(t, s.tx.Rollback(ctx), "step %d", step)
			s.tx, s.pending = nil, nil
		}
	}
	for _, s := range sessions {
		if s.tx != nil {
			require.NoError(t, s.tx.Commit(ctx))
			for _, run := range s.pending {
				committed[run] = s.role
			}
		}
	}

	for _, table := range []string{"rac.acks", "rac.expectations"} {
		rows, err := admin.Query(ctx, `SELECT x.run_id, au.role_name::text FROM `+table+` x
			LEFT JOIN rac.authors au ON au.id = x.author_id`)
		require.NoError(t, err)
		stored := map[uuid.UUID]string{}
		for rows.Next() {
			var run uuid.UUID
			var role *string
			require.NoError(t, rows.Scan(&run, &role))
			require.NotNil(t, role, "%s: run %s names no author", table, run)
			stored[run] = *role
		}
		require.NoError(t, rows.Err())
		require.Equal(t, committed, stored, "%s: exactly the committed runs, each by the login that wrote it", table)
	}
}
