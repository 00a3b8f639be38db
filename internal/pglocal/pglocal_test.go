package pglocal_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pglocal"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func start(t *testing.T, opts pglocal.Options) *pglocal.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := time.Now()
	c, err := pglocal.Start(ctx, opts)
	require.NoError(t, err)
	t.Logf("cluster started in %s", time.Since(started))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, connString)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	return conn
}

func TestPersistentDataDirSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "pgdata")

	c := start(t, pglocal.Options{DataDir: dataDir, Logger: testLogger(t)})
	assert.Equal(t, dataDir, c.DataDir())
	conn := connect(t, c.ConnString("postgres"))
	_, err := conn.Exec(ctx, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before restart')`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	sockDir := c.Host()
	require.NoError(t, c.Stop(ctx))
	require.NoError(t, c.Stop(ctx), "Stop is idempotent")
	<-c.Done()
	assert.NoDirExists(t, sockDir, "socket dir is removed")
	assert.FileExists(t, filepath.Join(dataDir, "PG_VERSION"), "data dir is kept")
	assert.FileExists(t, dataDir+".log", "server log is kept beside the data dir")

	c2 := start(t, pglocal.Options{DataDir: dataDir, Logger: testLogger(t)})
	conn2 := connect(t, c2.URL("postgres"))
	var v string
	require.NoError(t, conn2.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v))
	assert.Equal(t, "before restart", v)
}

func TestTempClusterIsRemovedOnStop(t *testing.T) {
	ctx := context.Background()
	c := start(t, pglocal.Options{Settings: map[string]string{"application_name": "pglocal_test"}})
	conn := connect(t, c.URL("postgres"))

	for name, want := range map[string]string{
		"fsync":              "on",
		"synchronous_commit": "on",
		"max_connections":    "300",
		"listen_addresses":   "",
		"application_name":   "pglocal_test",
	} {
		var got string
		require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got))
		assert.Equal(t, want, got, name)
	}
	var super bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super))
	assert.True(t, super)
	require.NoError(t, conn.Close(ctx))

	dataDir, sockDir := c.DataDir(), c.Host()
	assert.Less(t, len(sockDir), 60, "socket dir must be short")
	require.NoError(t, c.Stop(ctx))
	assert.NoDirExists(t, dataDir)
	assert.NoDirExists(t, sockDir)
}

func TestStartRejectsForeignDataDir(t *testing.T) {
	dataDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "stray"), []byte("x"), 0o600))
	_, err := pglocal.Start(context.Background(), pglocal.Options{DataDir: dataDir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no PG_VERSION")
}

func TestStartFailureIncludesServerLog(t *testing.T) {
	_, err := pglocal.Start(context.Background(), pglocal.Options{
		Settings: map[string]string{"no_such_setting": "1"},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "server log")
	assert.Contains(t, err.Error(), "no_such_setting")
}

func TestMissingBinariesSayWhatToInstall(t *testing.T) {
	_, err := pglocal.Start(context.Background(), pglocal.Options{BinDir: t.TempDir()})
	require.Error(t, err)
	assert.True(t, errors.Is(err, pglocal.ErrNotInstalled))
	assert.Contains(t, err.Error(), "apt-get install postgresql")
}
