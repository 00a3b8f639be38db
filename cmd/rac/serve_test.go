package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

var listeningRE = regexp.MustCompile(`rac serve: listening on (\S+)`)

func TestServe(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One final expectation for the seal that serve makes at start.
	pool := newPool(t, db.URL)
	_, err := pool.Exec(ctx, `SELECT rac.expect(gen_random_uuid(), 'incidents', 'create_incident', interval '1 hour')`)
	require.NoError(t, err)
	pgtest.WaitFinal(t, pool)

	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--every", "1h"}, &stdout, &stderr,
			func(k string) string { return dbEnv(db.URL)[k] })
	}()

	var addr string
	require.Eventually(t, func() bool {
		m := listeningRE.FindStringSubmatch(stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, "no listening line on stderr: %s", &stderr)
	base := "http://" + addr

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, _ := get("/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body := get("/readyz")
	require.Equal(t, http.StatusOK, code, body)
	// The pass at start counts itself in rac_reconciliation_total.
	require.Eventually(t, func() bool {
		code, body := get("/metrics")
		return code == http.StatusOK && strings.Contains(body, `rac_reconciliation_total{status="ok"} 1`)
	}, 30*time.Second, 20*time.Millisecond)
	// So does the seal at start (--seal-every defaults to 5m).
	require.Eventually(t, func() bool {
		code, body := get("/metrics")
		return code == http.StatusOK && strings.Contains(body, `rac_seals_total{status="sealed"} 1`)
	}, 30*time.Second, 20*time.Millisecond)
	var sealedExpectations int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT row_counts[1] FROM rac.seals WHERE id = 1`).Scan(&sealedExpectations))
	require.Equal(t, int64(1), sealedExpectations)
	_, body = get("/metrics")
	require.Contains(t, body, "rac_sealed_rows_total")
	require.Contains(t, body, "\nrac_seal_head_id 1\n")
	require.Contains(t, body, "\nrac_seal_last_success_timestamp_seconds ")
	require.Contains(t, body, "go_goroutines")
	require.Contains(t, body, "process_cpu_seconds_total")

	cancel()
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("rac serve did not stop after cancellation")
	}
}

func TestServeNotReadyWithoutDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	reg, err := newRegistry()
	require.NoError(t, err)
	mux := serveMux(reg, pool, "")
	pool.Close() // a closed pool cannot ping: not ready, still healthy

	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code, w.Body.String()
	}
	code, body := get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "not ready")
	code, _ = get("/healthz")
	require.Equal(t, http.StatusOK, code)
}
