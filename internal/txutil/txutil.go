// Package txutil holds the one helper for transactions this module owns:
// a rollback that still reaches the server after the caller's context was
// cancelled, and a begin/commit wrapper around it.
package txutil

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RollbackTimeout bounds a rollback run past the caller's cancellation.
const RollbackTimeout = 10 * time.Second

// Rollback rolls tx (a transaction or a savepoint) back even when ctx was
// cancelled, within RollbackTimeout. After a commit or an earlier rollback
// it is a no-op and returns nil, so it can be deferred right after Begin.
func Rollback(ctx context.Context, tx pgx.Tx) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RollbackTimeout)
	defer cancel()
	if err := tx.Rollback(rctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("roll back: %w", err)
	}
	return nil
}

// Beginner is what WithTx begins on: a *pgxpool.Pool, *pgxpool.Conn or
// *pgx.Conn.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// WithTx begins a transaction with opts on b, runs fn in it and commits
// when fn returns nil. On any error the transaction is rolled back, even
// when ctx was cancelled.
func WithTx(ctx context.Context, b Beginner, opts pgx.TxOptions, fn func(context.Context, pgx.Tx) error) error {
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = Rollback(ctx, tx) }() // no-op after the commit
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
