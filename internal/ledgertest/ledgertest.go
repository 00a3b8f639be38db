// Package ledgertest writes ledger rows as of a chosen time, for tests. The
// ledger library always stamps the database clock, so a fixture that needs
// an expectation declared yesterday or an ack written an hour ago writes
// the row with SQL. Pass runs a reconciler pass over what was written.
// Only tests import it.
package ledgertest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// Now reads the database clock, the only clock the ledger uses.
func Now(tb testing.TB, db ledger.DBTX) time.Time {
	tb.Helper()
	var now time.Time
	if err := db.QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&now); err != nil {
		tb.Fatalf("ledgertest: read the database clock: %v", err)
	}
	return now
}

// Declare writes tenant's expectation that run performs domain/action, as
// if declared at the given time with the given deadline. Deadline 0 records
// an explicit NULL deadline: an invalid contract, as the SQL API may record.
func Declare(tb testing.TB, db ledger.DBTX, tenant string, run uuid.UUID, d ledger.Domain, a ledger.Action, at time.Time, deadline time.Duration) {
	tb.Helper()
	_, err := db.Exec(context.Background(), `
		INSERT INTO rac.expectations (tenant_id, run_id, action_id, declared_at, deadline_ms, deadline_at)
		SELECT t.id, $2, c.id, $5::timestamptz, nullif($6::bigint, 0), $5::timestamptz + nullif($6::bigint, 0) * interval '1 ms'
		FROM rac.tenants t, rac.contract_actions c
		WHERE t.name = $1 AND c.domain = $3 AND c.action = $4`,
		tenant, run, string(d), string(a), at, deadline.Milliseconds())
	if err != nil {
		tb.Fatalf("ledgertest: declare %s/%s for run %s: %v", d, a, run, err)
	}
}

// DeclareRun declares the five standard expectations of run at the given
// time, each with deadline.
func DeclareRun(tb testing.TB, db ledger.DBTX, tenant string, run uuid.UUID, at time.Time, deadline time.Duration) {
	tb.Helper()
	for _, e := range ledger.StandardRun(deadline) {
		Declare(tb, db, tenant, run, e.Domain, e.Action, at, deadline)
	}
}

// Ack writes an ack of the default tenant as if written at the given time;
// errText non-empty makes it a failure report.
func Ack(tb testing.TB, db ledger.DBTX, run uuid.UUID, d ledger.Domain, a ledger.Action, errText string, at time.Time) {
	tb.Helper()
	_, err := db.Exec(context.Background(), `
		INSERT INTO rac.acks (run_id, action_id, acked_at, error)
		SELECT $1, c.id, $4, nullif($5, '')
		FROM rac.contract_actions c WHERE c.domain = $2 AND c.action = $3`,
		run, string(d), string(a), at, errText)
	if err != nil {
		tb.Fatalf("ledgertest: ack %s/%s for run %s: %v", d, a, run, err)
	}
}

// AckRun acks every standard action of run at the given time, except those
// listed.
func AckRun(tb testing.TB, db ledger.DBTX, run uuid.UUID, at time.Time, except ...ledger.Action) {
	tb.Helper()
	for _, e := range StandardExcept(except...) {
		Ack(tb, db, run, e.Domain, e.Action, "", at)
	}
}

// StandardExcept returns the standard run's expectations (deadline one
// second) without the listed actions.
func StandardExcept(except ...ledger.Action) []ledger.Expectation {
	return slices.DeleteFunc(ledger.StandardRun(time.Second), func(e ledger.Expectation) bool {
		return slices.Contains(except, e.Action)
	})
}

// Pass runs one pass of rec once every ledger row written so far to pool's
// database is final (see pgtest.WaitFinal), and returns its summary.
func Pass(tb testing.TB, pool *pgxpool.Pool, rec *reconciler.Reconciler) reconciler.Summary {
	tb.Helper()
	pgtest.WaitFinal(tb, pool)
	sum, err := rec.RunOnce(context.Background())
	if err != nil {
		tb.Fatalf("ledgertest: reconciler pass: %v", err)
	}
	return sum
}

// BeginDomainTx opens a transaction on pool that takes its transaction id
// at once, as a domain transaction that already wrote its own business row
// would: while it is open the horizon stays at or below it, so nothing
// written after it is final, and what it writes commits only when the test
// says so. It is rolled back when the test ends, unless committed.
func BeginDomainTx(tb testing.TB, pool *pgxpool.Pool) pgx.Tx {
	tb.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		tb.Fatalf("ledgertest: begin: %v", err)
	}
	tb.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		tb.Fatalf("ledgertest: take a transaction id: %v", err)
	}
	return tx
}
