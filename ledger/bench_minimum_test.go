package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// plainAcks is rac.acks' columns, defaults and idempotency key on a plain
// table: no row-level security, constraints, triggers or other indexes.
const plainAcks = `CREATE TABLE public.plain_acks (
	id              bigint      GENERATED ALWAYS AS IDENTITY,
	tx_id           bigint      NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
	acked_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
	run_id          uuid        NOT NULL,
	tenant_id       smallint    NOT NULL DEFAULT 1,
	action_id       smallint    NOT NULL,
	result_id       text,
	idempotency_key text,
	error           text,
	metadata        jsonb,
	author_id       integer,
	UNIQUE (run_id, tenant_id, action_id, idempotency_key))`

// insertPlainAck is the hand-written insert of an ack's values.
const insertPlainAck = `INSERT INTO public.plain_acks (tenant_id, run_id, action_id, result_id, idempotency_key, author_id)
VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`

// BenchmarkAckPhysicalMinimum measures ledger.Ack against the physical
// minimum: BEGIN; INSERT INTO public.incidents; ack; COMMIT, from
// RAC_BENCH_CLIENTS clients (1, 16 and 64 are the documented figures),
// interleaved:
//
//   - P: a hand-written insert of the same values into public.plain_acks,
//     a plain table with rac.acks' columns and unique key.
//   - L: ledger.Ack.
//
// each under a login in rac_writer, as a service writes (bound by
// row-level security), and under the superuser that owns the ledger
// (which row-level security does not bind). L/P_ratio (the writer) and
// L/P_owner_ratio are the figures that matter (target ≥ 0.95).
// multixact_member_blocks is how many pg_stat_slru MultiXactMember
// blocks the run zeroed or wrote (cluster-wide): shared row locks by
// concurrent writers; 0 means no ack locked a shared row.
func BenchmarkAckPhysicalMinimum(b *testing.B) {
	m := newMinimumBench(b, plainAcks, "public.plain_acks")
	admin, conns, ownerConns, author, ownerAuthor := m.admin, m.writer, m.owner, m.writerAuthor, m.ownerAuthor
	createIncident := actionID(b, admin, ledger.Incidents, ledger.CreateIncident)
	l := benchLedger("")

	viaLedger := ledgerAckWork(l)

	before := multixactMemberBlocks(b, admin)
	res := runInterleaved(b, nil, []benchVariant{
		{name: "P plain table, writer", conns: conns, work: plainAckWork(createIncident, author)},
		{name: "L ledger.Ack, writer", conns: conns, work: viaLedger},
		{name: "P plain table, owner", conns: ownerConns, work: plainAckWork(createIncident, ownerAuthor)},
		{name: "L ledger.Ack, owner", conns: ownerConns, work: viaLedger},
	})
	after := multixactMemberBlocks(b, admin)
	expectRowCount(b, admin, "public.plain_acks", 2*(b.N+benchWarmup))
	expectRowCount(b, admin, "rac.acks", 2*(b.N+benchWarmup))

	p, lw, po, lo := res[0], res[1], res[2], res[3]
	b.ReportMetric(p.txPerSec(), "P_plain_tx/s")
	b.ReportMetric(lw.txPerSec(), "L_ledger_tx/s")
	b.ReportMetric(lw.txPerSec()/p.txPerSec(), "L/P_ratio")
	b.ReportMetric(lo.txPerSec()/po.txPerSec(), "L/P_owner_ratio")
	b.ReportMetric(float64(after-before), "multixact_member_blocks")
	reportSpread(b, "L/P", lw, p)
	reportSpread(b, "L/P_owner", lo, po)
}

// plainAckWork is the physical minimum's business transaction: the
// business insert and a hand-written insert of the ack's values into
// public.plain_acks, naming author.
func plainAckWork(createIncident int16, author int32) func(ctx context.Context, tx pgx.Tx, seq int64) error {
	return func(ctx context.Context, tx pgx.Tx, seq int64) error {
		runID, resultID, key := benchAckValues(seq)
		if _, err := tx.Exec(ctx, insertIncident, runID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, insertPlainAck, runID, createIncident, resultID, key, author)
		return err
	}
}

// ledgerAckWork is the same business transaction acking through l.
func ledgerAckWork(l *ledger.Ledger) func(ctx context.Context, tx pgx.Tx, seq int64) error {
	return func(ctx context.Context, tx pgx.Tx, seq int64) error {
		runID, resultID, key := benchAckValues(seq)
		if _, err := tx.Exec(ctx, insertIncident, runID); err != nil {
			return err
		}
		return l.Ack(ctx, tx, ledger.Ack{RunID: runID, Domain: ledger.Incidents, Action: ledger.CreateIncident,
			ResultID: resultID, IdempotencyKey: key})
	}
}

// minimumBench is what the physical-minimum benchmarks share: a fresh
// ledger with a plain table beside it, benchClients connections of a
// login in rac_writer that may write it and as many of the owning
// superuser, and both registered as authors.
type minimumBench struct {
	admin                     *pgxpool.Pool
	writer, owner             []*pgxpool.Conn
	writerName                string
	writerAuthor, ownerAuthor int32
}

// newMinimumBench creates the database, runs createTable and grants the
// writer INSERT on table.
func newMinimumBench(b *testing.B, createTable, table string) minimumBench {
	b.Helper()
	ctx := context.Background()
	db := pgtest.NewDatabase(b)
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = benchClients + 2
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(admin.Close)
	if _, err := admin.Exec(ctx, createTable); err != nil {
		b.Fatalf("create %s: %v", table, err)
	}
	name, writer := writerConns(b, db, true)
	if _, err := admin.Exec(ctx, `GRANT INSERT ON `+table+` TO `+pgx.Identifier{name}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	m := minimumBench{admin: admin, writer: writer, writerName: name, owner: acquireAll(b, admin)}
	for _, r := range []struct {
		conn *pgxpool.Conn
		id   *int32
	}{{m.writer[0], &m.writerAuthor}, {m.owner[0], &m.ownerAuthor}} {
		if err := r.conn.QueryRow(ctx, `SELECT rac.author_id()`).Scan(r.id); err != nil {
			b.Fatalf("register an author: %v", err)
		}
	}
	return m
}

// acquireAll holds benchClients connections of pool for the benchmark.
func acquireAll(b *testing.B, pool *pgxpool.Pool) []*pgxpool.Conn {
	b.Helper()
	conns := make([]*pgxpool.Conn, benchClients)
	for i := range conns {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			b.Fatalf("acquire connection %d: %v", i, err)
		}
		conns[i] = c
	}
	b.Cleanup(func() {
		for _, c := range conns {
			c.Release()
		}
	})
	return conns
}

// multixactMemberBlocks is how many MultiXactMember SLRU blocks the
// cluster has zeroed or written since its statistics were reset.
func multixactMemberBlocks(b *testing.B, pool *pgxpool.Pool) int64 {
	b.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(),
		`SELECT blks_zeroed + blks_written FROM pg_stat_slru WHERE name = 'MultiXactMember'`).Scan(&n); err != nil {
		b.Fatalf("pg_stat_slru: %v", err)
	}
	return n
}

// plainExpectations is rac.expectations' columns, defaults and unique key
// on a plain table.
const plainExpectations = `CREATE TABLE public.plain_expectations (
	id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tx_id       bigint      NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
	declared_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	deadline_at timestamptz,
	deadline_ms bigint,
	run_id      uuid        NOT NULL,
	tenant_id   smallint    NOT NULL DEFAULT 1,
	action_id   smallint    NOT NULL,
	declared_by text,
	metadata    jsonb,
	author_id   integer,
	UNIQUE (run_id, tenant_id, action_id))`

// insertPlainExpectations is the hand-written five-row unnest insert of a
// standard run's values, one clock reading for all.
const insertPlainExpectations = `INSERT INTO public.plain_expectations
	(tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by, author_id)
SELECT 1, $3, u.action_id, u.deadline_ms, c.now, c.now + u.deadline_ms * interval '1 millisecond', $4, $5
FROM unnest($1::smallint[], $2::bigint[]) AS u(action_id, deadline_ms),
     (SELECT clock_timestamp() AS now) AS c`

// BenchmarkExpectPhysicalMinimum measures ledger.Expect(StandardRun)
// against a hand-written five-row unnest insert of the same values into
// public.plain_expectations (rac.expectations' columns and unique key on
// a plain table), one transaction per run, from RAC_BENCH_CLIENTS clients,
// under a login in rac_writer and under the owning superuser,
// interleaved. E/P_ratio and E/P_owner_ratio are the figures (target ≥
// 0.95 at 64 clients).
func BenchmarkExpectPhysicalMinimum(b *testing.B) {
	m := newMinimumBench(b, plainExpectations, "public.plain_expectations")
	admin, conns, ownerConns, author, ownerAuthor := m.admin, m.writer, m.owner, m.writerAuthor, m.ownerAuthor
	plain, viaLedger := standardRunWork(b, admin)
	res := runInterleaved(b, nil, []benchVariant{
		{name: "P plain table, writer", conns: conns, work: plain(author)},
		{name: "E ledger.Expect, writer", conns: conns, work: viaLedger},
		{name: "P plain table, owner", conns: ownerConns, work: plain(ownerAuthor)},
		{name: "E ledger.Expect, owner", conns: ownerConns, work: viaLedger},
	})
	expectRowCount(b, admin, "public.plain_expectations", 2*standardRunRows*(b.N+benchWarmup))
	expectRowCount(b, admin, "rac.expectations", 2*standardRunRows*(b.N+benchWarmup))

	p, ew, po, eo := res[0], res[1], res[2], res[3]
	b.ReportMetric(p.txPerSec(), "P_plain_tx/s")
	b.ReportMetric(ew.txPerSec(), "E_ledger_tx/s")
	b.ReportMetric(ew.txPerSec()/p.txPerSec(), "E/P_ratio")
	b.ReportMetric(eo.txPerSec()/po.txPerSec(), "E/P_owner_ratio")
	reportSpread(b, "E/P", ew, p)
	reportSpread(b, "E/P_owner", eo, po)
}

// standardRunRows is how many expectations ledger.StandardRun declares.
var standardRunRows = len(ledger.StandardRun(time.Second))

// standardRunWork returns the two ways of declaring a standard run in a
// business transaction: a hand-written five-row unnest insert of its
// values into public.plain_expectations naming author, and
// ledger.Expect(StandardRun).
func standardRunWork(b *testing.B, admin *pgxpool.Pool) (plain func(author int32) func(ctx context.Context, tx pgx.Tx, seq int64) error,
	viaLedger func(ctx context.Context, tx pgx.Tx, seq int64) error) {
	b.Helper()
	const declaredBy = "bench-service"
	l := benchLedger(declaredBy)
	standard := ledger.StandardRun(5 * time.Second)
	ids := make([]int16, len(standard))
	deadlines := make([]int64, len(standard))
	for i, e := range standard {
		ids[i] = actionID(b, admin, e.Domain, e.Action)
		deadlines[i] = e.Deadline.Milliseconds()
	}
	plain = func(author int32) func(ctx context.Context, tx pgx.Tx, _ int64) error {
		return func(ctx context.Context, tx pgx.Tx, _ int64) error {
			_, err := tx.Exec(ctx, insertPlainExpectations, ids, deadlines, uuid.New(), declaredBy, author)
			return err
		}
	}
	viaLedger = func(ctx context.Context, tx pgx.Tx, _ int64) error {
		return l.Expect(ctx, tx, uuid.New(), ledger.StandardRun(5*time.Second)...)
	}
	return plain, viaLedger
}
