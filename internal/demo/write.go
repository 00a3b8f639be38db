package demo

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/internal/txutil"
	"github.com/racledger/racledger/ledger"
)

// schema is the business side of the simulation: the runs (with the fault
// injected, the simulation's own bookkeeping) and the records the domains
// write beside their acks.
var schema = []string{
	`CREATE SCHEMA IF NOT EXISTS demo`,
	`CREATE TABLE IF NOT EXISTS demo.runs (
		run_id     uuid        PRIMARY KEY,
		demo_id    uuid        NOT NULL,
		seq        int         NOT NULL,
		fault      text        NOT NULL,
		target     text        NOT NULL,
		retry      text        NOT NULL,
		started_at timestamptz NOT NULL DEFAULT clock_timestamp()
	)`,
	`CREATE INDEX IF NOT EXISTS runs_demo_id_idx ON demo.runs (demo_id)`,
	`CREATE TABLE IF NOT EXISTS demo.records (
		id         uuid        PRIMARY KEY,
		run_id     uuid        NOT NULL,
		domain     text        NOT NULL,
		action     text        NOT NULL,
		written_at timestamptz NOT NULL DEFAULT clock_timestamp()
	)`,
}

// createSchema creates the demo schema if it does not exist.
func (s *sim) createSchema(ctx context.Context) error {
	for _, stmt := range schema {
		if _, err := s.pool.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("create demo schema: %w", err)
		}
	}
	return nil
}

// writeRun writes run r as one transaction of a service would: declare the
// expectations, write each domain's record and ack it. Late acks are left
// for writeLateAck; the other faults are written here.
func (s *sim) writeRun(ctx context.Context, tx pgx.Tx, r PlannedRun) error {
	var expect []ledger.Expectation
	for _, e := range ledger.StandardRun(s.deadline) {
		ref := Ref{Domain: e.Domain, Action: e.Action}
		if ref == r.Target && (r.Fault == FaultDrift || r.Fault == FaultInvalid) {
			continue // drift: never declared; invalid: declared below with raw SQL
		}
		expect = append(expect, e)
	}
	if err := s.ledger.Expect(ctx, tx, r.ID, expect...); err != nil {
		return fmt.Errorf("declare expectations: %w", err)
	}
	if r.Fault == FaultInvalid {
		if err := declareWithoutDeadline(ctx, tx, r.ID, r.Target); err != nil {
			return err
		}
	}

	var (
		acks      []ledger.Ack
		recordIDs []uuid.UUID
		domains   []string
		actions   []string
		duplicate *ledger.Ack
	)
	for _, e := range ledger.StandardRun(s.deadline) {
		ref := Ref{Domain: e.Domain, Action: e.Action}
		onTarget := ref == r.Target
		switch {
		case onTarget && (r.Fault == FaultMissing || r.Fault == FaultStale || r.Fault == FaultLate):
			continue // never acked, or acked after the deadline
		case onTarget && r.Fault == FaultFailed:
			acks = append(acks, failure(r.ID, ref, "attempt-1"))
			continue
		case onTarget && r.Retry == RetryRecovered:
			acks = append(acks, failure(r.ID, ref, "attempt-1"))
		}
		id := uuid.New()
		recordIDs, domains, actions = append(recordIDs, id), append(domains, string(ref.Domain)), append(actions, string(ref.Action))
		ack := ledger.Ack{RunID: r.ID, Domain: ref.Domain, Action: ref.Action, ResultID: id.String(), IdempotencyKey: id.String()}
		acks = append(acks, ack)
		if onTarget && r.Retry == RetryDuplicate {
			duplicate = &ack
		}
	}

	if _, err := tx.Exec(ctx, `
		WITH run AS (
			INSERT INTO demo.runs (run_id, demo_id, seq, fault, target, retry)
			VALUES ($1, $2, $3, $4, $5, $6)
		)
		INSERT INTO demo.records (id, run_id, domain, action)
		SELECT unnest($7::uuid[]), $1, unnest($8::text[]), unnest($9::text[])`,
		r.ID, s.demoID, r.Seq, string(r.Fault), r.Target.String(), string(r.Retry),
		recordIDs, domains, actions); err != nil {
		return fmt.Errorf("write business records: %w", err)
	}
	if err := s.ledger.Ack(ctx, tx, acks...); err != nil {
		return fmt.Errorf("write acks: %w", err)
	}
	if duplicate != nil {
		// A retry of an ack already written: its idempotency key makes it
		// a no-op.
		if err := s.ledger.Ack(ctx, tx, *duplicate); err != nil {
			return fmt.Errorf("retry ack: %w", err)
		}
	}
	return nil
}

// failure is an ack reporting that ref failed in run.
func failure(run uuid.UUID, ref Ref, key string) ledger.Ack {
	return ledger.Ack{RunID: run, Domain: ref.Domain, Action: ref.Action, IdempotencyKey: key,
		Error: fmt.Sprintf("%s: upstream unavailable (simulated)", ref)}
}

// declareWithoutDeadline records an expectation with a NULL deadline, as a
// SQL client that bypasses the Go API could: an invalid contract.
func declareWithoutDeadline(ctx context.Context, tx pgx.Tx, run uuid.UUID, ref Ref) error {
	tag, err := tx.Exec(ctx, `
		INSERT INTO rac.expectations (run_id, tenant_id, action_id, deadline_ms, deadline_at, declared_by)
		SELECT $1, t.id, c.id, NULL, NULL, 'rac demo (raw SQL)'
		FROM rac.contract_actions c, rac.tenants t
		WHERE c.domain = $2 AND c.action = $3 AND t.name = $4`,
		run, string(ref.Domain), string(ref.Action), ledger.DefaultTenant)
	if err != nil {
		return fmt.Errorf("declare %s without deadline: %w", ref, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("declare %s without deadline: %d rows written, want 1", ref, tag.RowsAffected())
	}
	return nil
}

// writeLateAck writes the record and success ack of a late run's target,
// after its deadline.
func (s *sim) writeLateAck(ctx context.Context, tx pgx.Tx, r PlannedRun) error {
	id := uuid.New()
	if _, err := tx.Exec(ctx, `INSERT INTO demo.records (id, run_id, domain, action) VALUES ($1, $2, $3, $4)`,
		id, r.ID, string(r.Target.Domain), string(r.Target.Action)); err != nil {
		return fmt.Errorf("write business record: %w", err)
	}
	ack := ledger.Ack{RunID: r.ID, Domain: r.Target.Domain, Action: r.Target.Action, ResultID: id.String(), IdempotencyKey: id.String()}
	if err := s.ledger.Ack(ctx, tx, ack); err != nil {
		return fmt.Errorf("write late ack: %w", err)
	}
	return nil
}

// forEach runs fn for every run, each in its own transaction, on s.workers
// goroutines, printing progress under label. The first error stops the
// rest and is returned.
func (s *sim) forEach(ctx context.Context, label string, runs []PlannedRun, fn func(context.Context, pgx.Tx, PlannedRun) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var done atomic.Int64
	started := time.Now()
	rate := func() string {
		n := done.Load()
		return fmt.Sprintf("%s: %d/%d runs (%.0f runs/s)", label, n, len(runs), float64(n)/max(time.Since(started).Seconds(), 1e-3))
	}
	p := startProgress(s.progress, rate)

	jobs := make(chan PlannedRun)
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() {
			for r := range jobs {
				err := s.inTx(ctx, func(tx pgx.Tx) error { return fn(ctx, tx, r) })
				if err != nil {
					cancel(fmt.Errorf("run %d (%s): %w", r.Seq, r.ID, err))
					return
				}
				done.Add(1)
			}
		})
	}
feed:
	for _, r := range runs {
		select {
		case jobs <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	p.done(rate() + fmt.Sprintf(" in %v", time.Since(started).Round(time.Millisecond)))
	return context.Cause(ctx)
}

// inTx runs fn in a transaction and commits it. The rollback after a
// failure survives cancellation.
func (s *sim) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return txutil.WithTx(ctx, s.pool, pgx.TxOptions{}, func(_ context.Context, tx pgx.Tx) error { return fn(tx) })
}
