package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errStandby marks the error of a command that must write but is connected
// to a standby (a server in recovery, read-only).
var errStandby = errors.New("connected to a standby")

// standbyHint tells the operator where writes must go.
const standbyHint = "point --database-url at the primary, or list every node in a multi-host URL " +
	"with target_session_attrs=read-write (postgres://h1,h2/db?target_session_attrs=read-write)"

// inRecovery reports whether q's server is a standby (pg_is_in_recovery).
func inRecovery(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (bool, error) {
	var rec bool
	if err := q.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&rec); err != nil {
		return false, fmt.Errorf("ask whether the server is a standby: %w", err)
	}
	return rec, nil
}

// requirePrimary returns an error wrapping errStandby, saying plainly what
// command could not run, when pool is connected to a standby: command
// (for instance "rac seal") writes to the ledger, and a standby refuses
// every write, which it reports in misleading terms ("cannot execute
// SELECT in a read-only transaction"). On a primary whose commits would
// wait forever for a synchronous standby it returns checkSyncStandbys'
// error.
func requirePrimary(ctx context.Context, pool *pgxpool.Pool, command string) error {
	rec, err := inRecovery(ctx, pool)
	if err != nil {
		return fmt.Errorf("%s: %w", command, err)
	}
	if rec {
		return fmt.Errorf("%s: %w (the server is in recovery and read-only), and %s writes to the ledger: %s",
			command, errStandby, command, standbyHint)
	}
	return checkSyncStandbys(ctx, pool, command)
}

// standbyState is what a report read on a standby says about how current
// its data is; absent (nil) on a primary.
type standbyState struct {
	// LastReplayedCommitAt is the commit time, on the primary, of the last
	// transaction this standby replayed: the report's data is as of then.
	// Null when it has replayed none since it started.
	LastReplayedCommitAt *time.Time `json:"last_replayed_commit_at"`
	// ReplayLagSeconds is the report's as_of minus LastReplayedCommitAt;
	// it also grows while the primary is idle (compare CaughtUp).
	ReplayLagSeconds *float64 `json:"replay_lag_seconds"`
	// CaughtUp reports whether the standby has replayed all the WAL it
	// received (with a receiver still streaming, it lags only by what is
	// in flight).
	CaughtUp bool `json:"caught_up"`
	// Streaming reports whether a WAL receiver is connected to the
	// primary.
	Streaming bool `json:"streaming"`
	// ReplayPaused reports pg_is_wal_replay_paused(): the data stays as
	// of LastReplayedCommitAt until replay resumes.
	ReplayPaused bool `json:"replay_paused"`
}

// readStandbyState returns, in tx, how current a standby's data is, or nil
// on a primary.
func readStandbyState(ctx context.Context, tx pgx.Tx, asOf time.Time) (*standbyState, error) {
	rec, err := inRecovery(ctx, tx)
	if err != nil || !rec {
		return nil, err
	}
	var s standbyState
	err = tx.QueryRow(ctx, `
		SELECT pg_last_xact_replay_timestamp(),
		       coalesce(pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn(), true),
		       EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming'),
		       pg_is_wal_replay_paused()`).Scan(&s.LastReplayedCommitAt, &s.CaughtUp, &s.Streaming, &s.ReplayPaused)
	if err != nil {
		return nil, fmt.Errorf("read the standby's replay position: %w", err)
	}
	if s.LastReplayedCommitAt != nil {
		lag := max(0, asOf.Sub(*s.LastReplayedCommitAt).Seconds())
		s.ReplayLagSeconds = &lag
	}
	return &s, nil
}

// describeStandby is the report's line about a standby's data.
func describeStandby(s *standbyState) string {
	line := "STANDBY: this server is a standby; "
	if s.LastReplayedCommitAt == nil {
		line += "it has replayed no transaction since it started, so its data is as of an unknown earlier time"
	} else {
		line += fmt.Sprintf("its data is as of %s (the last transaction it replayed), replay lag %s",
			formatTime(*s.LastReplayedCommitAt), time.Duration(*s.ReplayLagSeconds*float64(time.Second)).Round(time.Millisecond))
	}
	switch {
	case s.ReplayPaused:
		line += "; REPLAY IS PAUSED (pg_wal_replay_resume() resumes it)"
	case !s.Streaming:
		line += "; no WAL receiver is streaming from the primary"
	case s.CaughtUp:
		line += "; it has replayed all it received (lag counts time the primary was idle too)"
	}
	return line
}
