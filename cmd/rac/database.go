package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// databaseFlag registers --database-url on fs; its default is DATABASE_URL.
func databaseFlag(fs *flag.FlagSet, env *environment) *string {
	return fs.String("database-url", env.getenv("DATABASE_URL"),
		"PostgreSQL connection (libpq URL or key=value); default $DATABASE_URL")
}

// connect opens a pool to url and checks that the server answers. Each
// configure function may adjust the pool's configuration first.
func connect(ctx context.Context, url string, configure ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, fmt.Errorf("%w: no database: pass --database-url or set DATABASE_URL", errUsage)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: parse database url: %v", errUsage, err)
	}
	for _, f := range configure {
		f(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}
