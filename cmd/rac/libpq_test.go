package main

import (
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

// With no URL, rac connects as psql would, from PGHOST, PGPORT,
// PGDATABASE, PGUSER and PGPASSWORD (and ~/.pgpass), and never prints the
// password. Not parallel: it sets the process environment, which pgx
// reads.
func TestLibpqEnvironment(t *testing.T) {
	db := pgtest.NewDatabase(t)
	cfg, err := pgconn.ParseConfig(db.URL)
	require.NoError(t, err)
	t.Setenv("PGHOST", cfg.Host)
	t.Setenv("PGPORT", strconv.Itoa(int(cfg.Port)))
	t.Setenv("PGDATABASE", cfg.Database)
	t.Setenv("PGUSER", cfg.User)
	t.Setenv("PGPASSWORD", "pgpass-secret-42")
	t.Setenv("PGSSLMODE", "disable")
	res := rac(context.Background(), nil, "migrate", "status")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "applied")

	// A wrong database named the same way fails without the password.
	t.Setenv("PGDATABASE", "no_such_database_here")
	res = rac(context.Background(), nil, "report")
	require.Equal(t, exitError, res.code, res.stderr)
	require.NotContains(t, res.stdout+res.stderr, "pgpass-secret-42")

	// Nothing at all: a usage error that names every way.
	for _, v := range libpqVars {
		t.Setenv(v, "")
	}
	res = rac(context.Background(), nil, "report")
	require.Equal(t, exitUsage, res.code, res.stderr)
	require.Contains(t, res.stderr, "PGHOST")
}
