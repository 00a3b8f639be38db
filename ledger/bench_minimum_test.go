package ledger_test

import (
	"context"
	"testing"

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
	if _, err := admin.Exec(ctx, plainAcks); err != nil {
		b.Fatalf("create plain_acks: %v", err)
	}
	name, conns := writerConns(b, db, true)
	if _, err := admin.Exec(ctx, `GRANT INSERT ON public.plain_acks TO `+pgx.Identifier{name}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	createIncident := actionID(b, admin, ledger.Incidents, ledger.CreateIncident)
	var author int32
	if err := conns[0].QueryRow(ctx, `SELECT rac.author_id()`).Scan(&author); err != nil {
		b.Fatalf("register the writer: %v", err)
	}
	l := benchLedger("")

	ownerConns := acquireAll(b, admin)
	var ownerAuthor int32
	if err := ownerConns[0].QueryRow(ctx, `SELECT rac.author_id()`).Scan(&ownerAuthor); err != nil {
		b.Fatalf("register the owner: %v", err)
	}
	plain := func(author int32) func(ctx context.Context, tx pgx.Tx, seq int64) error {
		return func(ctx context.Context, tx pgx.Tx, seq int64) error {
			runID, resultID, key := benchAckValues(seq)
			if _, err := tx.Exec(ctx, insertIncident, runID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, insertPlainAck, runID, createIncident, resultID, key, author)
			return err
		}
	}
	viaLedger := func(ctx context.Context, tx pgx.Tx, seq int64) error {
		runID, resultID, key := benchAckValues(seq)
		if _, err := tx.Exec(ctx, insertIncident, runID); err != nil {
			return err
		}
		return l.Ack(ctx, tx, ledger.Ack{RunID: runID, Domain: ledger.Incidents, Action: ledger.CreateIncident,
			ResultID: resultID, IdempotencyKey: key})
	}

	before := multixactMemberBlocks(b, admin)
	res := runInterleaved(b, nil, []benchVariant{
		{name: "P plain table, writer", conns: conns, work: plain(author)},
		{name: "L ledger.Ack, writer", conns: conns, work: viaLedger},
		{name: "P plain table, owner", conns: ownerConns, work: plain(ownerAuthor)},
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
