package ledger_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/ledger"
)

// BenchmarkCheckpointInFinalizeTx measures what the governance checkpoint
// costs the orchestrator's finalize transaction: BEGIN; INSERT the
// orchestrator's own row; finalize; COMMIT, from 16 clients at once, each
// transaction finalizing a run whose five standard expectations were
// declared and whose four domain acks committed beforehand.
//
//   - A: the finalize_run ack through ledger.Ack, no checkpoint.
//   - B: ledger.Checkpoint, which judges the run, records the check and
//     writes the same ack through ledger.Ack.
//
// One op is one transaction of each variant. B/A_ratio is the figure: the
// throughput of a finalize transaction with the checkpoint over one without.
func BenchmarkCheckpointInFinalizeTx(b *testing.B) {
	pool, conns := benchDB(b)
	l := benchLedger("")
	ctx := context.Background()
	n := 2 * (b.N + benchWarmup)
	runs := make([]uuid.UUID, n+1)
	for i := range runs {
		runs[i] = uuid.New()
	}
	// Every run declared and acked (but for finalize_run), in bulk.
	if _, err := pool.Exec(ctx, `
		INSERT INTO rac.expectations (run_id, action_id, deadline_ms, declared_at, deadline_at)
		SELECT r, c.id, 3600000, clock_timestamp(), clock_timestamp() + interval '1 hour'
		FROM unnest($1::uuid[]) r, rac.contract_actions c`, runs); err != nil {
		b.Fatalf("declare: %v", err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO rac.acks (run_id, action_id, result_id)
		SELECT r, c.id, 'r' FROM unnest($1::uuid[]) r, rac.contract_actions c WHERE c.action <> 'finalize_run'`, runs); err != nil {
		b.Fatalf("ack: %v", err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE rac.expectations; ANALYZE rac.acks`); err != nil {
		b.Fatalf("analyze: %v", err)
	}
	finalize := func(seq int64) ledger.Ack {
		return ledger.Ack{RunID: runs[seq], Domain: ledger.Orchestrator, Action: ledger.FinalizeRun,
			ResultID: "final", IdempotencyKey: ledger.FinalizeIdempotencyKey}
	}
	variants := []benchVariant{
		{name: "A ack only", work: func(ctx context.Context, tx pgx.Tx, seq int64) error {
			if _, err := tx.Exec(ctx, insertIncident, runs[seq]); err != nil {
				return err
			}
			return l.Ack(ctx, tx, finalize(seq))
		}},
		{name: "B checkpoint", work: func(ctx context.Context, tx pgx.Tx, seq int64) error {
			if _, err := tx.Exec(ctx, insertIncident, runs[seq]); err != nil {
				return err
			}
			_, err := l.Checkpoint(ctx, tx, runs[seq], ledger.CheckpointOptions{})
			return err
		}},
	}
	res := runInterleaved(b, conns, variants)

	expectRowCount(b, pool, "rac.governance_checks WHERE outcome = 'passed'", b.N+benchWarmup)
	expectRowCount(b, pool, "rac.acks a JOIN rac.contract_actions c ON c.id = a.action_id WHERE c.action = 'finalize_run'", n)

	ackOnly, checked := res[0], res[1]
	b.ReportMetric(ackOnly.txPerSec(), "A_ack_tx/s")
	b.ReportMetric(checked.txPerSec(), "B_checkpoint_tx/s")
	b.ReportMetric(checked.txPerSec()/ackOnly.txPerSec(), "B/A_ratio")
	reportSpread(b, "B/A", checked, ackOnly)
}
