package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/ledger"
)

// EnvBenchTouch sets how many tables of its own the business transaction
// of BenchmarkAckWideServiceTx reads before it acks (default 8).
const EnvBenchTouch = "RAC_BENCH_TOUCH"

// BenchmarkAckWideServiceTx is BenchmarkAckPhysicalMinimum's writer
// comparison for a service whose transaction touches more of its own
// tables: before the business insert it reads RAC_BENCH_TOUCH one-row
// tables in one statement. PostgreSQL 15 keeps up to 16 relation locks
// per transaction in the backend's fast-path slots; the rest go to the
// shared lock table, whose partitions concurrent backends contend for.
// A bound writer's ack takes more relation locks than the plain insert
// (its policies read the catalog), so a wide transaction spills sooner.
//
// Narrow (no extra tables) and wide variants of P (the plain table) and L
// (ledger.Ack) run interleaved under one login in rac_writer:
// L/P_narrow_ratio and L/P_wide_ratio. P_wide_slow_locks and
// L_wide_slow_locks are the relation locks one wide transaction holds
// outside the fast path, read from pg_locks at its end.
func BenchmarkAckWideServiceTx(b *testing.B) {
	touch := benchCount(b, EnvBenchTouch, 8, 1, 200)
	m := newMinimumBench(b, plainAcks, "public.plain_acks")
	ctx := context.Background()
	reads := make([]string, touch)
	for i := range reads {
		table := fmt.Sprintf("public.service_%d", i+1)
		for _, sql := range []string{
			`CREATE TABLE ` + table + ` (v integer NOT NULL)`,
			`INSERT INTO ` + table + ` VALUES (1)`,
			`GRANT SELECT ON ` + table + ` TO ` + pgx.Identifier{m.writerName}.Sanitize(),
		} {
			if _, err := m.admin.Exec(ctx, sql); err != nil {
				b.Fatalf("%s: %v", sql, err)
			}
		}
		reads[i] = `(SELECT v FROM ` + table + `)`
	}
	readService := `SELECT ` + strings.Join(reads, " + ")
	createIncident := actionID(b, m.admin, ledger.Incidents, ledger.CreateIncident)
	plain := plainAckWork(createIncident, m.writerAuthor)
	viaLedger := ledgerAckWork(benchLedger(""))
	wide := func(work func(ctx context.Context, tx pgx.Tx, seq int64) error) func(ctx context.Context, tx pgx.Tx, seq int64) error {
		return func(ctx context.Context, tx pgx.Tx, seq int64) error {
			var sum int
			if err := tx.QueryRow(ctx, readService).Scan(&sum); err != nil {
				return fmt.Errorf("read the service's tables: %w", err)
			}
			return work(ctx, tx, seq)
		}
	}

	res := runInterleaved(b, nil, []benchVariant{
		{name: "P plain table, narrow", conns: m.writer, work: plain},
		{name: "L ledger.Ack, narrow", conns: m.writer, work: viaLedger},
		{name: "P plain table, wide", conns: m.writer, work: wide(plain)},
		{name: "L ledger.Ack, wide", conns: m.writer, work: wide(viaLedger)},
	})
	expectRowCount(b, m.admin, "public.plain_acks", 2*(b.N+benchWarmup))
	expectRowCount(b, m.admin, "rac.acks", 2*(b.N+benchWarmup))

	pn, ln, pw, lw := res[0], res[1], res[2], res[3]
	b.ReportMetric(ln.txPerSec()/pn.txPerSec(), "L/P_narrow_ratio")
	b.ReportMetric(lw.txPerSec()/pw.txPerSec(), "L/P_wide_ratio")
	b.ReportMetric(pw.txPerSec()/pn.txPerSec(), "P_wide/narrow")
	reportSpread(b, "L/P_wide", lw, pw)
	b.ReportMetric(float64(slowPathLocks(b, m.writer[0].Conn(), wide(plain))), "P_wide_slow_locks")
	b.ReportMetric(float64(slowPathLocks(b, m.writer[0].Conn(), wide(viaLedger))), "L_wide_slow_locks")
}

// slowPathLocks runs work in a transaction on conn and returns how many
// relation locks the transaction holds outside the fast-path slots at its
// end; the transaction is rolled back.
func slowPathLocks(b *testing.B, conn *pgx.Conn, work func(ctx context.Context, tx pgx.Tx, seq int64) error) int {
	b.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := work(ctx, tx, -1); err != nil {
		b.Fatalf("one wide transaction: %v", err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_locks
		WHERE pid = pg_backend_pid() AND locktype = 'relation' AND NOT fastpath
		  AND relation <> 'pg_catalog.pg_locks'::regclass`).Scan(&n); err != nil {
		b.Fatalf("pg_locks: %v", err)
	}
	return n
}
