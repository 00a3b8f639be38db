package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/racledger/racledger/internal/seal"
	"github.com/racledger/racledger/reconciler"
)

const serveSynopsis = "rac serve --listen ADDR [--every 30s] [--seal-every 5m] [--verify-every 1h] [--batch-size N] [--pass-timeout DURATION] [--sync-wait-timeout DURATION] [--log-format text|json] [--log-level LEVEL] [--database-url URL]"

const (
	// readyTimeout bounds the database ping behind /readyz.
	readyTimeout = 2 * time.Second
	// shutdownTimeout bounds the wait for in-flight HTTP requests on
	// shutdown.
	shutdownTimeout = 10 * time.Second
	// defaultVerifyEvery is how often serve re-verifies the whole chain:
	// a verification reads every sealed row, so hourly rather than at
	// the seal's pace.
	defaultVerifyEvery = time.Hour
)

// runServe implements `rac serve`: the reconciler loop (a pass at start,
// then every --every), the sealer (every --seal-every) and the verifier
// (every --verify-every, rac_verify_* metrics) beside an HTTP server with /metrics, /healthz and
// /readyz. When ctx is cancelled it stops accepting requests, waits for the
// loop to finish its batch in flight, and exits 0.
func runServe(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "serve", serveSynopsis)
	dbURL := databaseFlag(fs, env)
	listen := fs.String("listen", "", "address for /metrics, /healthz and /readyz, e.g. :9464 (port 0 picks a free port)")
	every := fs.Duration("every", 30*time.Second, "interval between reconciliation passes")
	sealEvery := fs.Duration("seal-every", 5*time.Minute, "interval between seals of the final rows (0 disables sealing)")
	verifyEvery := fs.Duration("verify-every", defaultVerifyEvery,
		"interval between verifications of the whole seal chain, the first at start (0 disables them)")
	batchSize := fs.Int("batch-size", 0, fmt.Sprintf("runs reconciled per transaction (default %d)", reconciler.DefaultBatchSize))
	passTimeout := passTimeoutFlag(fs)
	syncWait := syncWaitFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if *listen == "" {
		return exitUsage, fmt.Errorf("%w: --listen ADDR is required", errUsage)
	}
	if *every <= 0 {
		return exitUsage, fmt.Errorf("%w: --every %v must be positive", errUsage, *every)
	}
	if *sealEvery < 0 {
		return exitUsage, fmt.Errorf("%w: --seal-every %v must not be negative", errUsage, *sealEvery)
	}
	if *verifyEvery < 0 {
		return exitUsage, fmt.Errorf("%w: --verify-every %v must not be negative", errUsage, *verifyEvery)
	}
	opts, err := reconcilerOptions(env, *batchSize, *passTimeout, env.logger)
	if err != nil {
		return exitUsage, err
	}
	reg, err := newRegistry()
	if err != nil {
		return exitError, err
	}
	opts.Registerer = reg

	// No ping: serve starts while the database is down (not ready, the
	// loops wait for it), so an orchestrator sees /readyz 503, not a
	// crash loop.
	guard := newSyncWaitGuard("rac serve", *syncWait, env.logger)
	pool, err := openPool(ctx, *dbURL, guard.configure)
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	stopGuard := guard.start(ctx, pool)
	defer stopGuard()
	rec, err := reconciler.New(pool, opts)
	if err != nil {
		return exitError, fmt.Errorf("create reconciler: %w", err)
	}
	var sealer *seal.Sealer
	// The first verification waits for the seal at start (or one
	// --verify-every at most), so that a fresh ledger is not reported
	// unsealed a moment before its first seal.
	firstSeal := make(chan struct{})
	var firstSealOnce sync.Once
	if *sealEvery > 0 {
		sealer, err = seal.New(pool, seal.Options{Registerer: initRegisterer{reg}, Logger: env.logger,
			AfterSeal: func(seal.Result, error) { firstSealOnce.Do(func() { close(firstSeal) }) }})
		if err != nil {
			return exitError, fmt.Errorf("create sealer: %w", err)
		}
	}
	var verifier *seal.Verifier
	if *verifyEvery > 0 {
		verifier, err = seal.NewVerifier(pool, seal.VerifierOptions{Registerer: reg, Logger: env.logger})
		if err != nil {
			return exitError, fmt.Errorf("create verifier: %w", err)
		}
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		return exitError, fmt.Errorf("listen on %s: %w", *listen, err)
	}
	fmt.Fprintf(env.stderr, "rac serve: listening on %s\n", ln.Addr())
	srv := &http.Server{
		Handler:           serveMux(reg, pool, *dbURL),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(env.logger.Handler(), slog.LevelWarn),
	}

	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	dbUp := make(chan struct{})
	go func() {
		if waitForDatabase(loopCtx, pool, env.logger, *dbURL) == nil {
			close(dbUp)
		}
	}()
	// afterDB runs f once the database answers, or returns nil at shutdown.
	afterDB := func(f func() error) error {
		select {
		case <-dbUp:
			return f()
		case <-loopCtx.Done():
			return nil
		}
	}
	loopDone := make(chan error, 1)
	go func() { loopDone <- afterDB(func() error { return rec.Run(loopCtx, *every) }) }()
	sealDone := make(chan error, 1)
	if sealer != nil {
		go func() { sealDone <- afterDB(func() error { return sealer.Run(loopCtx, *sealEvery) }) }()
	} else {
		sealDone <- nil
	}
	verifyDone := make(chan error, 1)
	if verifier != nil {
		go func() {
			if sealer != nil {
				wait := time.NewTimer(*verifyEvery)
				select {
				case <-firstSeal:
				case <-wait.C:
				case <-loopCtx.Done():
				}
				wait.Stop()
			}
			if loopCtx.Err() != nil {
				verifyDone <- nil
				return
			}
			verifyDone <- afterDB(func() error { return verifier.Run(loopCtx, *verifyEvery) })
		}()
	} else {
		verifyDone <- nil
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	env.logger.InfoContext(ctx, "serve: running", slog.Duration("every", *every), slog.Duration("grace", opts.Grace),
		slog.Duration("seal_every", *sealEvery), slog.Duration("verify_every", *verifyEvery))

	var serveErr error
	select {
	case <-ctx.Done():
		env.logger.InfoContext(ctx, "serve: shutting down")
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		serveErr = srv.Shutdown(shutCtx)
		cancel()
		if serveErr != nil {
			serveErr = fmt.Errorf("shut down http server: %w", serveErr)
		}
	case err := <-serveDone:
		serveErr = fmt.Errorf("http server: %w", err)
	}
	stopLoop()
	loopErr := <-loopDone
	if loopErr != nil {
		loopErr = fmt.Errorf("reconcile loop: %w", loopErr)
	}
	sealErr := <-sealDone
	if sealErr != nil {
		sealErr = fmt.Errorf("seal loop: %w", sealErr)
	}
	verifyErr := <-verifyDone
	if verifyErr != nil {
		verifyErr = fmt.Errorf("verify loop: %w", verifyErr)
	}
	stopGuard()
	if err := errors.Join(serveErr, loopErr, sealErr, verifyErr, guard.err()); err != nil {
		return exitError, err
	}
	env.logger.InfoContext(ctx, "serve: stopped")
	return exitOK, nil
}

// Backoff between attempts to reach the database at start.
const (
	dbRetryMin = 250 * time.Millisecond
	dbRetryMax = 15 * time.Second
)

// waitForDatabase pings pool until the database answers, backing off from
// dbRetryMin to dbRetryMax and logging each failure, or until ctx is done.
func waitForDatabase(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, url string) error {
	wait := dbRetryMin
	for {
		pctx, cancel := context.WithTimeout(ctx, readyTimeout)
		err := pool.Ping(pctx)
		cancel()
		if err == nil {
			logger.InfoContext(ctx, "serve: database reachable")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logger.WarnContext(ctx, "serve: database unreachable, retrying",
			slog.Duration("retry_in", wait), slog.Any("error", scrubError(err, url)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, dbRetryMax)
	}
}

// newRegistry returns a fresh Prometheus registry holding the Go runtime
// and process collectors and rac_build_info; the reconciler, sealer and
// verifier add their own series to it.
func newRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	bi := readBuildInfo()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "rac_build_info",
		Help:        "Always 1; its labels name the running rac: version, source revision and Go version.",
		ConstLabels: prometheus.Labels{"version": bi.String(), "revision": bi.Revision, "goversion": bi.GoVersion},
	})
	buildInfo.Set(1)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register collector: %w", err)
		}
	}
	return reg, nil
}

// serveMux routes /metrics, /healthz (the process is up) and /readyz (the
// database answers a ping within readyTimeout and is a primary: on a
// standby every pass and seal would fail).
func serveMux(reg *prometheus.Registry, pool *pgxpool.Pool, url string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			http.Error(w, "not ready: database: "+scrubError(err, url).Error(), http.StatusServiceUnavailable)
			return
		}
		if err := requirePrimary(ctx, pool, "rac serve"); err != nil {
			http.Error(w, "not ready: "+scrubError(err, url).Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}
