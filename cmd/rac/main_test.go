package main

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// result is what one in-process `rac` invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// syncBuffer is a bytes.Buffer safe for the concurrent writers of a running
// command (its logger, progress lines) and a test reading it meanwhile.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rac runs `rac args...` in-process with env as its whole environment.
func rac(ctx context.Context, env map[string]string, args ...string) result {
	var stdout, stderr syncBuffer
	code := run(ctx, args, &stdout, &stderr, func(k string) string { return env[k] })
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// dbEnv is an environment whose DATABASE_URL is url.
func dbEnv(url string) map[string]string { return map[string]string{"DATABASE_URL": url} }

// newPool opens a pool to url, closed when the test ends.
func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// newLedger returns a Ledger that writes whatever RAC_ENABLED says:
// Enabled is forced on, so fixtures are always written.
func newLedger() *ledger.Ledger {
	on := true
	return ledger.New(ledger.Options{Enabled: &on})
}

// settle waits until every ledger row written so far is final.
func settle(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	pgtest.WaitFinal(t, pool)
}
