package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/bench"
	"github.com/racledger/racledger/internal/pgtest"
)

// tinyBench are settings that run every part of rac bench in seconds.
var tinyBench = []string{"--clients", "2", "--duration", "50ms", "--backlog-runs", "200", "--window-runs", "20"}

// scratchDatabases lists the server's databases made by rac bench.
func scratchDatabases(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1`, bench.ScratchPrefix)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// rac bench measures in a scratch database it creates and drops: every
// figure comes out, and neither the database named by the URL nor the
// server keeps anything of it, even after an interrupt. (One test: the
// parts compare the server's list of scratch databases.)
func TestBenchRunsInAScratchDatabaseAndDropsIt(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	before := scratchDatabases(t, pool)
	t.Run("measures and drops", func(t *testing.T) { benchMeasuresAndDrops(t, db, pool, before) })
	t.Run("interrupted, drops", func(t *testing.T) { benchDropsWhenInterrupted(t, db, pool, before) })
}

func benchMeasuresAndDrops(t *testing.T, db pgtest.Database, pool *pgxpool.Pool, before []string) {
	ctx := context.Background()

	res := rac(ctx, dbEnv(db.URL), append([]string{"bench", "--format", "json"}, tinyBench...)...)
	require.Equal(t, exitOK, res.code, res.stderr)
	var out bench.Result
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &out), res.stdout)
	require.Equal(t, 2, out.Settings.Clients)
	require.NotEmpty(t, out.ServerVersion)
	byName := map[string]bench.Figure{}
	for _, f := range out.Figures {
		require.Len(t, f.Values, 1, f.Name)
		byName[f.Name] = f
	}
	for _, name := range []string{"ack_tx_per_s", "ack_raw_tx_per_s", "ack_ratio", "expect_tx_per_s", "expect_raw_tx_per_s",
		"expect_ratio", "antijoin_s", "backlog_pass_s", "backlog_ratio", "window_pass_s", "idle_pass_s",
		"seal_rows_per_s", "verify_rows_per_s", "export_rows_per_s"} {
		require.Contains(t, byName, name)
		require.Positive(t, byName[name].Median, name)
	}
	require.Zero(t, byName["idle_candidates"].Median, "an idle pass has no candidates")
	require.Contains(t, byName, "window_candidates")

	require.Equal(t, before, scratchDatabases(t, pool), "the scratch database is dropped")
	var rows int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM rac.acks) + (SELECT count(*) FROM rac.expectations)
		+ (SELECT count(*) FROM rac.reconciliations) + (SELECT count(*) FROM rac.seals)`).Scan(&rows))
	require.Zero(t, rows, "nothing was written into the database of the URL")
	var tables int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench%'`).Scan(&tables))
	require.Zero(t, tables)

	table := rac(ctx, dbEnv(db.URL), append([]string{"bench", "--quiet"}, tinyBench...)...)
	require.Equal(t, exitOK, table.code, table.stderr)
	require.Contains(t, table.stdout, "ack_ratio")
	require.Contains(t, table.stdout, "export_rows_per_s")
}

// A role that may not create databases is refused before anything is
// written, and the refusal does not show the password.
func TestBenchRefusesWithoutCreateDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	roleURL, _ := pgtest.LoginRole(t, db)
	res := rac(context.Background(), dbEnv(roleURL), append([]string{"bench"}, tinyBench...)...)
	require.Equal(t, exitError, res.code, res.stderr)
	require.Contains(t, res.stderr, "CREATE DATABASE")
	require.Contains(t, res.stderr, "permission denied")
	u, _, _ := strings.Cut(strings.TrimPrefix(roleURL, "postgres://"), "@")
	_, password, _ := strings.Cut(u, ":")
	require.NotEmpty(t, password)
	require.NotContains(t, res.stderr+res.stdout, password)
}

// An interrupt (the context main cancels on SIGINT) still drops the
// scratch database.
func benchDropsWhenInterrupted(t *testing.T, db pgtest.Database, pool *pgxpool.Pool, before []string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		done <- rac(ctx, dbEnv(db.URL), "bench", "--clients", "2", "--duration", "10m", "--backlog-runs", "200", "--window-runs", "20")
	}()
	deadline := time.Now().Add(time.Minute)
	for len(scratchDatabases(t, pool)) == len(before) {
		require.True(t, time.Now().Before(deadline), "no scratch database appeared")
		select {
		case res := <-done:
			t.Fatalf("rac bench ended before it was interrupted: %d %s", res.code, res.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	res := <-done
	require.Equal(t, exitInterrupted, res.code, res.stderr)
	require.Equal(t, before, scratchDatabases(t, pool), "the scratch database is dropped after the interrupt")
}
