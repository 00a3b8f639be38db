package ledger_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// gov is what the orchestration tests need: an admin pool (the owner, for
// fixtures and reading tables), a pool logged in as a member of
// rac_writer (the orchestrator and the domains, as they would run), that
// role's name and a Ledger.
type gov struct {
	ctx    context.Context
	admin  *pgxpool.Pool
	writer *pgxpool.Pool
	role   string
	l      *ledger.Ledger
}

func setupGov(t *testing.T) gov {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	admin, err := pgxpool.New(ctx, db.URL)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	_, err = admin.Exec(ctx, `CREATE TABLE public.incidents (id bigserial PRIMARY KEY, run_id uuid NOT NULL, note text NOT NULL);
		GRANT SELECT, INSERT ON public.incidents TO rac_writer;
		GRANT USAGE ON SEQUENCE public.incidents_id_seq TO rac_writer`)
	require.NoError(t, err)
	u, role := pgtest.LoginRole(t, db, "rac_writer")
	conf, err := pgxpool.ParseConfig(u)
	require.NoError(t, err)
	conf.MaxConns = 30 // the simulation holds many transactions open at once
	writer, err := pgxpool.NewWithConfig(ctx, conf)
	require.NoError(t, err)
	t.Cleanup(writer.Close)
	// Register the login as an author once, committed: a first write of a
	// new role in two open transactions at once would wait on its
	// registration (migration 00012), which single-goroutine schedules
	// of open transactions must not.
	_, err = writer.Exec(ctx, `SELECT rac.author_id()`)
	require.NoError(t, err)
	on := true
	return gov{ctx: ctx, admin: admin, writer: writer, role: role, l: ledger.New(ledger.Options{Enabled: &on})}
}

// begin opens a writer transaction that the test ends; rolled back at
// cleanup otherwise.
func (g gov) begin(t *testing.T, iso pgx.TxIsoLevel) pgx.Tx {
	t.Helper()
	tx, err := g.writer.BeginTx(g.ctx, pgx.TxOptions{IsoLevel: iso})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

// inTx runs f in a committed writer transaction.
func (g gov) inTx(t *testing.T, f func(tx pgx.Tx)) {
	t.Helper()
	tx := g.begin(t, pgx.ReadCommitted)
	f(tx)
	require.NoError(t, tx.Commit(g.ctx))
}

// ack writes one ack as the writer, in its own committed transaction.
func (g gov) ack(t *testing.T, run uuid.UUID, d ledger.Domain, a ledger.Action, errText string) {
	t.Helper()
	g.inTx(t, func(tx pgx.Tx) {
		require.NoError(t, g.l.Ack(g.ctx, tx, ledger.Ack{RunID: run, Domain: d, Action: a, ResultID: "r-" + string(a), Error: errText}))
	})
}

// statuses reads the reconciler's statuses of run (rac.action_status,
// grace 0), finalize_run left out, as "domain/action: status".
func (g gov) statuses(t *testing.T, run uuid.UUID) map[string]string {
	t.Helper()
	rows, err := g.admin.Query(g.ctx, `
		SELECT domain || '/' || action, CASE WHEN expected AND deadline_at IS NULL THEN 'invalid' ELSE status END
		FROM rac.action_status WHERE run_id = $1 AND NOT (domain = 'orchestrator' AND action = 'finalize_run')`, run)
	require.NoError(t, err)
	out := map[string]string{}
	for rows.Next() {
		var k, s string
		require.NoError(t, rows.Scan(&k, &s))
		out[k] = s
	}
	require.NoError(t, rows.Err())
	return out
}

// unmetOf returns the unmet items of a statuses map, as Checkpoint names
// them, sorted.
func unmetOf(st map[string]string) []string {
	var out []string
	for k, s := range st {
		switch s {
		case "pending", "missing", "failed", "drift", "invalid":
			out = append(out, k+": "+s)
		}
	}
	sort.Strings(out)
	return out
}

func unmetStrings(us []ledger.Unmet) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.String())
	}
	sort.Strings(out)
	return out
}

// finalizeAcks counts run's finalize_run acks.
func (g gov) finalizeAcks(t *testing.T, run uuid.UUID) int {
	t.Helper()
	var n int
	require.NoError(t, g.admin.QueryRow(g.ctx, `
		SELECT count(*) FROM rac.acks a JOIN rac.contract_actions c ON c.id = a.action_id
		WHERE a.run_id = $1 AND c.action = 'finalize_run'`, run).Scan(&n))
	return n
}

// waitBlocked waits until a backend of the writer role waits for a lock.
func (g gov) waitBlocked(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		require.NoError(t, g.admin.QueryRow(g.ctx, `
			SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock'`, g.role).Scan(&n))
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no writer session started waiting for a lock")
}

// pgCode is err's SQLSTATE ("" when it is no PostgreSQL error).
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
