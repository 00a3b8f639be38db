package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/ledger"
)

// createIncident is a domain operation: it writes the domain's own row and
// returns its id.
func createIncident(note string) func(ctx context.Context, tx pgx.Tx) (string, error) {
	return func(ctx context.Context, tx pgx.Tx) (string, error) {
		var id string
		err := tx.QueryRow(ctx, `INSERT INTO public.incidents (run_id, note) VALUES (gen_random_uuid(), $1) RETURNING id::text`, note).Scan(&id)
		return id, err
	}
}

type trackedAck struct {
	ResultID, Error string
}

func (g gov) acksOf(t *testing.T, run uuid.UUID) []trackedAck {
	t.Helper()
	rows, err := g.admin.Query(g.ctx, `SELECT coalesce(result_id, ''), coalesce(error, '') FROM rac.acks WHERE run_id = $1 ORDER BY id`, run)
	require.NoError(t, err)
	var out []trackedAck
	for rows.Next() {
		var a trackedAck
		require.NoError(t, rows.Scan(&a.ResultID, &a.Error))
		out = append(out, a)
	}
	require.NoError(t, rows.Err())
	return out
}

func (g gov) incidents(t *testing.T, note string) []string {
	t.Helper()
	rows, err := g.admin.Query(g.ctx, `SELECT id::text FROM public.incidents WHERE note = $1`, note)
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

// Track acks the operation's result on success and its error on failure
// or panic, rolls the operation's writes back when it fails, and leaves
// the caller's transaction usable in every case.
func TestTrack(t *testing.T) {
	t.Parallel()
	g := setupGov(t)
	tmpl := func(run uuid.UUID) ledger.Ack {
		return ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident}
	}
	// afterwards writes a row of the caller after Track and commits: the
	// transaction must still be usable.
	afterwards := func(t *testing.T, tx pgx.Tx, note string) {
		t.Helper()
		_, err := tx.Exec(g.ctx, `INSERT INTO public.incidents (run_id, note) VALUES (gen_random_uuid(), $1)`, note)
		require.NoError(t, err)
		require.NoError(t, tx.Commit(g.ctx))
	}

	t.Run("success acks the result id with the row", func(t *testing.T) {
		run := uuid.New()
		tx := g.begin(t, pgx.ReadCommitted)
		require.NoError(t, g.l.Track(g.ctx, tx, tmpl(run), createIncident("tracked ok")))
		afterwards(t, tx, "after ok")
		ids := g.incidents(t, "tracked ok")
		require.Len(t, ids, 1)
		require.Equal(t, []trackedAck{{ResultID: ids[0]}}, g.acksOf(t, run))
		require.Len(t, g.incidents(t, "after ok"), 1)
	})

	t.Run("a rolled back caller leaves neither row nor ack", func(t *testing.T) {
		run := uuid.New()
		tx := g.begin(t, pgx.ReadCommitted)
		require.NoError(t, g.l.Track(g.ctx, tx, tmpl(run), createIncident("tracked then rolled back")))
		require.NoError(t, tx.Rollback(g.ctx))
		require.Empty(t, g.incidents(t, "tracked then rolled back"))
		require.Empty(t, g.acksOf(t, run))
	})

	t.Run("failure rolls the operation back and acks its error", func(t *testing.T) {
		run := uuid.New()
		boom := errors.New("incident store refused: quota")
		tx := g.begin(t, pgx.ReadCommitted)
		err := g.l.Track(g.ctx, tx, tmpl(run), func(ctx context.Context, tx pgx.Tx) (string, error) {
			if _, err := createIncident("tracked failed")(ctx, tx); err != nil {
				return "", err
			}
			return "", boom
		})
		require.ErrorIs(t, err, boom)
		afterwards(t, tx, "after failure")
		require.Empty(t, g.incidents(t, "tracked failed"), "the operation's row was rolled back")
		require.Equal(t, []trackedAck{{Error: boom.Error()}}, g.acksOf(t, run))
		require.Len(t, g.incidents(t, "after failure"), 1)
	})

	t.Run("a failed statement inside the operation does not abort the caller", func(t *testing.T) {
		run := uuid.New()
		tx := g.begin(t, pgx.ReadCommitted)
		err := g.l.Track(g.ctx, tx, tmpl(run), func(ctx context.Context, tx pgx.Tx) (string, error) {
			_, err := tx.Exec(ctx, `INSERT INTO public.incidents (run_id, note) VALUES (NULL, 'x')`)
			return "", err
		})
		require.Equal(t, "23502", pgCode(err))
		afterwards(t, tx, "after sql failure")
		acks := g.acksOf(t, run)
		require.Len(t, acks, 1)
		require.Contains(t, acks[0].Error, "null value")
	})

	t.Run("a panic is recovered, rolled back, acked and returned", func(t *testing.T) {
		run := uuid.New()
		tx := g.begin(t, pgx.ReadCommitted)
		err := g.l.Track(g.ctx, tx, tmpl(run), func(ctx context.Context, tx pgx.Tx) (string, error) {
			if _, err := createIncident("tracked panicked")(ctx, tx); err != nil {
				return "", err
			}
			panic("nil map in the incident facade")
		})
		var pe *ledger.PanicError
		require.ErrorAs(t, err, &pe)
		require.ErrorIs(t, err, ledger.ErrPanicked)
		require.Equal(t, "nil map in the incident facade", pe.Value)
		require.Contains(t, string(pe.Stack), "track_test.go")
		afterwards(t, tx, "after panic")
		require.Empty(t, g.incidents(t, "tracked panicked"))
		require.Equal(t, []trackedAck{{Error: "panic: nil map in the incident facade"}}, g.acksOf(t, run))
	})

	t.Run("an error text the ledger cannot store is made storable", func(t *testing.T) {
		run := uuid.New()
		tx := g.begin(t, pgx.ReadCommitted)
		long := errors.New("bad\x00byte \xff " + strings.Repeat("é", ledger.MaxErrorBytes))
		require.ErrorIs(t, g.l.Track(g.ctx, tx, tmpl(run), func(context.Context, pgx.Tx) (string, error) { return "", long }), long)
		require.NoError(t, tx.Commit(g.ctx))
		acks := g.acksOf(t, run)
		require.Len(t, acks, 1)
		require.LessOrEqual(t, len(acks[0].Error), ledger.MaxErrorBytes)
		require.True(t, strings.HasPrefix(acks[0].Error, "badbyte \uFFFD é"))
	})

	t.Run("bad input never runs the operation", func(t *testing.T) {
		tx := g.begin(t, pgx.ReadCommitted)
		ran := false
		op := func(context.Context, pgx.Tx) (string, error) { ran = true; return "x", nil }
		require.ErrorIs(t, g.l.Track(g.ctx, tx, ledger.Ack{RunID: uuid.New(), Domain: ledger.Incidents, Action: "close_incident"}, op), ledger.ErrUnknownAction)
		require.ErrorIs(t, g.l.Track(g.ctx, tx, ledger.Ack{Domain: ledger.Incidents, Action: ledger.CreateIncident}, op), ledger.ErrNilRun)
		require.False(t, ran)
		_, err := tx.Exec(g.ctx, `SELECT 1`)
		require.NoError(t, err)
	})
}

// A span acks start_trace and complete_trace; rac.spans shows the time
// between them.
func TestSpan(t *testing.T) {
	t.Parallel()
	g := setupGov(t)
	run := uuid.New()
	var span *ledger.Span
	g.inTx(t, func(tx pgx.Tx) {
		var err error
		span, err = g.l.StartSpan(g.ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.StartTrace, ResultID: "trace-1", IdempotencyKey: "trace-1"})
		require.NoError(t, err)
	})
	g.inTx(t, func(tx pgx.Tx) {
		require.NoError(t, span.Complete(g.ctx, tx, "trace-1", nil))
		require.NoError(t, span.Complete(g.ctx, tx, "trace-1", nil), "completing twice writes one ack")
	})
	var name, started, completed string
	var dur time.Duration
	require.NoError(t, g.admin.QueryRow(g.ctx, `
		SELECT span, started_by, completed_by, duration FROM rac.spans WHERE run_id = $1`, run).Scan(&name, &started, &completed, &dur))
	require.Equal(t, []string{"trace", g.role, g.role}, []string{name, started, completed})
	require.Greater(t, dur, time.Duration(0))
	require.Len(t, g.acksOf(t, run), 2)

	tx := g.begin(t, pgx.ReadCommitted)
	_, err := g.l.StartSpan(g.ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident})
	require.ErrorIs(t, err, ledger.ErrInvalid, "not a start_X action")
}
