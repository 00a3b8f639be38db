package pgtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/peterldowns/pgtestdb"

	"github.com/racledger/racledger/internal/migrate"
	"github.com/racledger/racledger/migrations"
)

// migrator is the pgtestdb.Migrator that builds the template database with
// internal/migrate, the same code path the rac binary uses.
type migrator struct{}

var _ pgtestdb.Migrator = migrator{}

// Hash identifies the template: it covers every file in migrations.FS
// (name and content) and the goose version table's name.
func (migrator) Hash() (string, error) { return migrationsHash() }

// Migrate applies every migration to the new template database.
func (migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	pool, err := pgxpool.New(ctx, conf.URL())
	if err != nil {
		return fmt.Errorf("pgtest: connect to template %s: %w", conf.Database, err)
	}
	// Closing the pool before returning matters: CREATE DATABASE ...
	// TEMPLATE refuses a template that still has sessions.
	defer pool.Close()
	if err := migrate.Up(ctx, pool, nil); err != nil {
		return fmt.Errorf("pgtest: migrate template %s: %w", conf.Database, err)
	}
	return nil
}

var migrationsHash = sync.OnceValues(func() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "racledger pgtest template v1\x00%s\x00", migrate.TableName)
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("pgtest: hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
})
