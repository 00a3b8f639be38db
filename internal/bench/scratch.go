package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/migrations"
)

// ScratchPrefix starts the name of every database rac bench creates.
const ScratchPrefix = "rac_bench_"

// dropTimeout bounds dropping a scratch database, which runs even after
// the caller's context was cancelled (an interrupt).
const dropTimeout = 30 * time.Second

// Scratch is a database created for one benchmark run and dropped by Drop.
type Scratch struct {
	// Name is the database's name: ScratchPrefix and 16 random hex digits.
	Name string
	// Pool is connected to it, with room for maxConns connections.
	Pool  *pgxpool.Pool
	admin *pgxpool.Pool
}

// NewScratch creates a database named ScratchPrefix+<random> on admin's
// server, migrates the ledger schema into it and returns it with a pool of
// up to maxConns connections. It never writes into admin's own database:
// CREATE DATABASE and DROP DATABASE are the only statements it runs there.
// When the role may not create databases it fails and nothing is written.
func NewScratch(ctx context.Context, admin *pgxpool.Pool, maxConns int, logger *slog.Logger) (*Scratch, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("bench: name the scratch database: %w", err)
	}
	s := &Scratch{Name: ScratchPrefix + hex.EncodeToString(b[:]), admin: admin}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.Name}.Sanitize()); err != nil {
		if ctx.Err() != nil {
			// Interrupted: the server may have created it all the same.
			return nil, s.dropAfter(ctx, fmt.Errorf("bench: create scratch database %s: %w", s.Name, err))
		}
		return nil, fmt.Errorf("bench: create scratch database %s (rac bench needs a role that may CREATE DATABASE; it never writes into an existing one): %w", s.Name, err)
	}
	cfg := admin.Config()
	cfg.ConnConfig.Database = s.Name
	cfg.MaxConns = int32(max(maxConns, 4))
	cfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.dropAfter(ctx, fmt.Errorf("bench: connect to scratch database %s: %w", s.Name, err))
	}
	s.Pool = pool
	if err := migrations.Up(ctx, pool, logger); err != nil {
		return nil, s.dropAfter(ctx, fmt.Errorf("bench: migrate scratch database %s: %w", s.Name, err))
	}
	return s, nil
}

// dropAfter drops s after a failure and returns err with any drop error.
func (s *Scratch) dropAfter(ctx context.Context, err error) error {
	if derr := s.Drop(ctx); derr != nil {
		return fmt.Errorf("%w (and %w)", err, derr)
	}
	return err
}

// Drop closes the scratch pool and drops the database, even when ctx was
// cancelled. Dropping twice is harmless.
func (s *Scratch) Drop(ctx context.Context) error {
	if s.Pool != nil {
		s.Pool.Close()
		s.Pool = nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dropTimeout)
	defer cancel()
	if _, err := s.admin.Exec(dctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.Name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("bench: drop scratch database %s: %w", s.Name, err)
	}
	return nil
}
