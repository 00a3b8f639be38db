package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

// switchProxy is a TCP proxy to a PostgreSQL server that refuses every
// connection until up is set: a database that is down, then comes up.
type switchProxy struct {
	ln     net.Listener
	target func() (net.Conn, error)
	up     atomic.Bool
	wg     sync.WaitGroup
}

func newSwitchProxy(t *testing.T, dbURL string) *switchProxy {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dbURL)
	require.NoError(t, err)
	network, addr := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, addr = "unix", filepath.Join(cfg.Host, ".s.PGSQL."+strconv.Itoa(int(cfg.Port)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &switchProxy{ln: ln, target: func() (net.Conn, error) { return net.Dial(network, addr) }}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.wg.Wait() })
	return p
}

func (p *switchProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.up.Load() {
			_ = c.Close()
			continue
		}
		s, err := p.target()
		if err != nil {
			_ = c.Close()
			continue
		}
		go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
		go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
	}
}

// url is dbURL with its host replaced by the proxy.
func (p *switchProxy) url(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.Host = p.ln.Addr().String()
	q := u.Query()
	q.Del("host")
	q.Del("port")
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String()
}

// rac serve starts while the database is unreachable, answers /healthz
// and /readyz 503, and becomes ready (and reconciles) once it comes up.
func TestServeStartsWithDatabaseDown(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	proxy := newSwitchProxy(t, db.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--every", "1h", "--log-format", "json"},
			&stdout, &stderr, func(k string) string { return dbEnv(proxy.url(t, db.URL))[k] })
	}()
	var addr string
	require.Eventually(t, func() bool {
		m := listeningRE.FindStringSubmatch(stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, "serve did not start with the database down: %s", &stderr)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, _ := get("/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body := get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Eventually(t, func() bool {
		return strings.Contains(stderr.String(), `"msg":"serve: database unreachable, retrying"`)
	}, 30*time.Second, 10*time.Millisecond, "%s", &stderr)

	proxy.up.Store(true)
	require.Eventually(t, func() bool { code, _ := get("/readyz"); return code == http.StatusOK }, 60*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		_, body := get("/metrics")
		return strings.Contains(body, `rac_reconciliation_total{status="ok"} 1`)
	}, 60*time.Second, 20*time.Millisecond)
	cancel()
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("rac serve did not stop")
	}
}

// documentedSeries are the series docs/operations.md lists; each exists
// from the start, before its first event.
var documentedSeries = []string{
	`rac_build_info{`,
	`rac_reconciliation_total{status="ok"}`,
	`rac_reconciliation_total{status="error"}`,
	`rac_missing_actions_total{action="create_incident",domain="incidents"}`,
	`rac_drift_actions_total{action="finalize_run",domain="orchestrator"}`,
	`rac_stale_runs_total`,
	`rac_findings_recorded_total{kind="missing"}`,
	`rac_findings_recorded_total{kind="failed"}`,
	`rac_findings_recorded_total{kind="late"}`,
	`rac_findings_recorded_total{kind="drift"}`,
	`rac_findings_recorded_total{kind="invalid"}`,
	`rac_findings_recorded_total{kind="stale"}`,
	`rac_reconciliation_duration_seconds_bucket`,
	`rac_reconciliation_candidate_runs_total`,
	`rac_reconciler_horizon_lag_seconds`,
	`rac_open_findings{kind="missing"} 0`,
	`rac_open_findings{kind="stale"} 0`,
	`rac_reconciliation_last_success_timestamp_seconds`,
	`rac_reconciliation_batch_retries_total`,
	`rac_seals_total`,
	`rac_sealed_rows_total`,
	`rac_seal_duration_seconds_bucket`,
	`rac_seal_last_success_timestamp_seconds`,
	`rac_seal_head_id`,
}

// Every documented series is exposed at start (the database down, so no
// pass has run), and promtool, where installed, finds the exposition
// clean.
func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	proxy := newSwitchProxy(t, db.URL) // stays down: nothing has happened yet
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--quiet"}, &stdout, &stderr,
			func(k string) string { return dbEnv(proxy.url(t, db.URL))[k] })
	}()
	var addr string
	require.Eventually(t, func() bool {
		m := listeningRE.FindStringSubmatch(stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, "%s", &stderr)
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, s := range documentedSeries {
		require.Contains(t, string(body), "\n"+s, "series %s missing at start", s)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(string(body))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool check metrics: %s", out)
	} else {
		t.Log("promtool not installed: exposition lint skipped")
	}
	cancel()
	<-done
}
