package demo

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/racledger/racledger/db"
)

// pollEvery is how often a wait asks the database again.
const pollEvery = 50 * time.Millisecond

// horizonTimeout bounds the wait for the reconciliation horizon to pass
// the demo's transactions; only a transaction left open elsewhere in the
// cluster can hold it back that long.
const horizonTimeout = 2 * time.Minute

// waitDeadlines waits until the database clock has passed every deadline of
// the demo's expectations plus the grace, printing the time left.
func (s *sim) waitDeadlines(ctx context.Context) error {
	var last *time.Time
	if err := s.pool.QueryRow(ctx, `
		SELECT max(e.deadline_at) FROM rac.expectations e
		JOIN demo.runs r ON r.run_id = e.run_id
		WHERE r.demo_id = $1`, s.demoID).Scan(&last); err != nil {
		return fmt.Errorf("read the last deadline: %w", err)
	}
	if last == nil {
		return nil // no deadline declared
	}
	until := last.Add(s.grace)
	var left atomic.Int64 // time.Duration, read by the progress line
	p := startProgress(s.progress, func() string {
		return fmt.Sprintf("waiting for deadlines: %v left", time.Duration(left.Load()).Round(100*time.Millisecond))
	})
	started := time.Now()
	err := poll(ctx, func(ctx context.Context) (bool, error) {
		var now time.Time
		if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
			return false, fmt.Errorf("read database clock: %w", err)
		}
		left.Store(int64(until.Sub(now)))
		return !now.Before(until), nil
	})
	waited := time.Since(started).Round(time.Millisecond)
	switch {
	case err == nil:
		p.done(fmt.Sprintf("waiting for deadlines: every deadline passed (waited %v)", waited))
	case ctx.Err() != nil:
		p.done(fmt.Sprintf("waiting for deadlines: interrupted after %v, %v before the last deadline",
			waited, time.Duration(left.Load()).Round(100*time.Millisecond)))
		return err
	default:
		p.done(fmt.Sprintf("waiting for deadlines: stopped after %v", waited))
	}
	return err
}

// maxTxID returns the newest transaction id among the demo's ledger rows.
func (s *sim) maxTxID(ctx context.Context) (int64, error) {
	var tx int64
	err := s.pool.QueryRow(ctx, `
		SELECT greatest(
			(SELECT max(e.tx_id) FROM rac.expectations e JOIN demo.runs r ON r.run_id = e.run_id WHERE r.demo_id = $1),
			(SELECT max(a.tx_id) FROM rac.acks a JOIN demo.runs r ON r.run_id = a.run_id WHERE r.demo_id = $1),
			0)`, s.demoID).Scan(&tx)
	if err != nil {
		return 0, fmt.Errorf("read the demo's newest transaction: %w", err)
	}
	return tx, nil
}

// waitHorizon waits until every transaction up to txID has finished in the
// whole cluster (the reconciler's horizon has passed it), printing what
// holds it back if that takes a while.
func (s *sim) waitHorizon(ctx context.Context, txID int64) error {
	// Read by the progress line while the poll writes them.
	var horizon, holderPID atomic.Int64
	describe := func() string {
		d := fmt.Sprintf("at %d, need > %d", horizon.Load(), txID)
		if pid := holderPID.Load(); pid != 0 {
			d += fmt.Sprintf(" (oldest open transaction: pid %d)", pid)
		}
		return d
	}
	started := time.Now()
	p := startProgress(s.progress, func() string {
		return "waiting for the reconciliation horizon: " + describe()
	})
	ctx, cancel := context.WithTimeout(ctx, horizonTimeout)
	defer cancel()
	err := poll(ctx, func(ctx context.Context) (bool, error) {
		var xmin int64
		if err := s.pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&xmin); err != nil {
			return false, fmt.Errorf("read the horizon: %w", err)
		}
		// The reconciler's own query, so the two cannot disagree on who
		// holds the horizon.
		holders, err := db.New().HorizonHolder(ctx, s.pool)
		if err != nil {
			return false, fmt.Errorf("read the horizon's holder: %w", err)
		}
		horizon.Store(xmin)
		holderPID.Store(0)
		if len(holders) > 0 && holders[0].Pid != nil {
			holderPID.Store(int64(*holders[0].Pid))
		}
		return xmin > txID, nil
	})
	p.done(fmt.Sprintf("waiting for the reconciliation horizon: passed the demo's transactions (waited %v)",
		time.Since(started).Round(time.Millisecond)))
	if err != nil {
		return fmt.Errorf("reconciliation horizon %s: %w", describe(), err)
	}
	return nil
}

// poll calls done every pollEvery until it reports true or fails, or ctx
// ends.
func poll(ctx context.Context, done func(context.Context) (bool, error)) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		ok, err := done(ctx)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
