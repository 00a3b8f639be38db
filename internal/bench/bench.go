package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/racledger/racledger/db"
	"github.com/racledger/racledger/internal/export"
	"github.com/racledger/racledger/internal/seal"
	"github.com/racledger/racledger/internal/txutil"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// ErrInvalidOptions wraps every refusal of Options by Run.
var ErrInvalidOptions = errors.New("bench: invalid options")

// Options configure a benchmark. The zero value uses every default.
type Options struct {
	// Clients is how many clients write at once in the write-path
	// comparisons, each on its own connection. Default 16.
	Clients int
	// Duration is the timed length of each write-path comparison (acks,
	// expectations), per run. Default 3s.
	Duration time.Duration
	// Runs repeats the whole benchmark, each time in a fresh scratch
	// database; every figure is reported per run and as the median.
	// Default 1.
	Runs int
	// BacklogRuns is the size of the ledger the reconciler's backlog pass
	// and the anti-join baseline run over (five expectations a run, one run
	// in a hundred missing an ack). Default 20,000.
	BacklogRuns int
	// WindowRuns is how many runs are written after the backlog pass for
	// the window pass. Default 2,000.
	WindowRuns int
	// Logger receives progress lines. Nil: discard.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultClients     = 16
	DefaultDuration    = 3 * time.Second
	DefaultRuns        = 1
	DefaultBacklogRuns = 20_000
	DefaultWindowRuns  = 2_000
)

func (o Options) withDefaults() (Options, error) {
	if o.Clients < 0 || o.Duration < 0 || o.Runs < 0 || o.BacklogRuns < 0 || o.WindowRuns < 0 {
		return o, fmt.Errorf("%w: negative setting", ErrInvalidOptions)
	}
	o.Clients = cmp.Or(o.Clients, DefaultClients)
	o.Duration = cmp.Or(o.Duration, DefaultDuration)
	o.Runs = cmp.Or(o.Runs, DefaultRuns)
	o.BacklogRuns = cmp.Or(o.BacklogRuns, DefaultBacklogRuns)
	o.WindowRuns = cmp.Or(o.WindowRuns, DefaultWindowRuns)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Figure is one measured quantity.
type Figure struct {
	// Name is a stable snake_case identifier, e.g. ack_ratio.
	Name string `json:"name"`
	// Description says what was measured, against what.
	Description string `json:"description"`
	// Unit is "tx/s", "rows/s", "s", "ratio" or "runs".
	Unit string `json:"unit"`
	// Values holds one value per run, in order.
	Values []float64 `json:"values"`
	// Median is the median of Values.
	Median float64 `json:"median"`
}

// Settings are the options a benchmark ran with.
type Settings struct {
	Clients     int     `json:"clients"`
	DurationS   float64 `json:"duration_s"`
	Runs        int     `json:"runs"`
	BacklogRuns int     `json:"backlog_runs"`
	WindowRuns  int     `json:"window_runs"`
}

// Result is a whole benchmark.
type Result struct {
	Settings Settings `json:"settings"`
	// ServerVersion is the server's server_version setting.
	ServerVersion string `json:"server_version"`
	// Figures are in a fixed order (see figureSpecs).
	Figures []Figure `json:"figures"`
}

// figureSpecs lists every figure, in report order.
var figureSpecs = []Figure{
	{Name: "ack_tx_per_s", Unit: "tx/s", Description: "business transactions acking through ledger.Ack"},
	{Name: "ack_raw_tx_per_s", Unit: "tx/s", Description: "the same with a hand-written INSERT into a plain table (same columns and unique key)"},
	{Name: "ack_ratio", Unit: "ratio", Description: "ledger.Ack / hand-written insert (1 = the ledger costs nothing extra)"},
	{Name: "expect_tx_per_s", Unit: "tx/s", Description: "transactions declaring a run with ledger.Expect(StandardRun)"},
	{Name: "expect_raw_tx_per_s", Unit: "tx/s", Description: "the same with a raw five-row unnest INSERT"},
	{Name: "expect_ratio", Unit: "ratio", Description: "ledger.Expect / raw unnest insert"},
	{Name: "antijoin_s", Unit: "s", Description: "bare anti-join over the backlog (expectations without an ack), best of 3"},
	{Name: "backlog_pass_s", Unit: "s", Description: "reconciler pass over the whole backlog, recording every finding"},
	{Name: "backlog_ratio", Unit: "ratio", Description: "backlog pass / anti-join"},
	{Name: "window_pass_s", Unit: "s", Description: "reconciler pass over the window of runs written after the backlog pass"},
	{Name: "window_candidates", Unit: "runs", Description: "candidate runs of the window pass"},
	{Name: "idle_pass_s", Unit: "s", Description: "reconciler pass with nothing new"},
	{Name: "idle_candidates", Unit: "runs", Description: "candidate runs of the idle pass (0 expected)"},
	{Name: "seal_rows_per_s", Unit: "rows/s", Description: "rows sealed per second (first seal of the whole ledger)"},
	{Name: "verify_rows_per_s", Unit: "rows/s", Description: "rows recomputed per second by verify"},
	{Name: "export_rows_per_s", Unit: "rows/s", Description: "rows exported per second (CSV, the sealed range)"},
}

// Run runs the benchmark opts.Runs times, each in a fresh scratch database
// created on admin's server and dropped afterwards (also on error or
// cancellation), and returns every figure.
func Run(ctx context.Context, admin *pgxpool.Pool, opts Options) (*Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	res := &Result{Settings: Settings{Clients: opts.Clients, DurationS: opts.Duration.Seconds(), Runs: opts.Runs,
		BacklogRuns: opts.BacklogRuns, WindowRuns: opts.WindowRuns}}
	if err := admin.QueryRow(ctx, `SELECT current_setting('server_version')`).Scan(&res.ServerVersion); err != nil {
		return nil, fmt.Errorf("bench: read server version: %w", err)
	}
	res.Figures = slices.Clone(figureSpecs)
	for run := 1; run <= opts.Runs; run++ {
		values, err := runOnce(ctx, admin, opts, run)
		if err != nil {
			return nil, fmt.Errorf("bench: run %d: %w", run, err)
		}
		for i := range res.Figures {
			res.Figures[i].Values = append(res.Figures[i].Values, values[res.Figures[i].Name])
		}
	}
	for i := range res.Figures {
		res.Figures[i].Median = median(res.Figures[i].Values)
	}
	return res, nil
}

// runOnce measures every figure once in its own scratch database.
func runOnce(ctx context.Context, admin *pgxpool.Pool, opts Options, run int) (_ map[string]float64, err error) {
	s, err := NewScratch(ctx, admin, opts.Clients+4, opts.Logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := s.Drop(ctx); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	log := opts.Logger.With(slog.Int("run", run), slog.String("database", s.Name))
	v := map[string]float64{}
	// The reconciler part first, on a ledger holding only its own rows;
	// the write-path comparisons add runs the reconciler never sees.
	log.InfoContext(ctx, "bench: reconciler", slog.Int("backlog_runs", opts.BacklogRuns))
	if err := benchReconcile(ctx, s.Pool, opts, v); err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "bench: seal, verify, export")
	if err := benchEvidence(ctx, s.Pool, v); err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "bench: write path", slog.Int("clients", opts.Clients), slog.Duration("duration", opts.Duration))
	if err := benchWrites(ctx, s.Pool, opts, v); err != nil {
		return nil, err
	}
	return v, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// fillLedger writes runs runs of the catalog's actions, declared two hours
// ago with a one-hour deadline, all acked on time except the first action
// of one run in a hundred (the mix of reconciler/bench_test.go), in
// transactions of 50,000 runs.
func fillLedger(ctx context.Context, pool *pgxpool.Pool, runs int) error {
	const chunk = 50_000
	for done := 0; done < runs; done += chunk {
		n := min(chunk, runs-done)
		if _, err := pool.Exec(ctx, `
			WITH r AS (SELECT g, gen_random_uuid() AS id FROM generate_series(1, $1) g),
			e AS (
				INSERT INTO rac.expectations (run_id, action_id, declared_at, deadline_ms, deadline_at)
				SELECT r.id, c.id, now() - interval '2 hours', 3600000, now() - interval '1 hour'
				FROM r CROSS JOIN rac.contract_actions c
				RETURNING run_id, action_id, declared_at
			)
			INSERT INTO rac.acks (run_id, action_id, acked_at, result_id, idempotency_key)
			SELECT e.run_id, e.action_id, e.declared_at + interval '1 minute',
			       'res-' || left(e.run_id::text, 8), e.action_id || ':' || left(e.run_id::text, 8)
			FROM e JOIN r ON r.id = e.run_id
			WHERE NOT (e.action_id = 1 AND r.g % 100 = 0)`, n); err != nil {
			return fmt.Errorf("fill ledger: %w", err)
		}
	}
	for _, t := range []string{"rac.expectations", "rac.acks"} {
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+t); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	return nil
}

// benchReconcile measures the anti-join baseline, the backlog pass, a
// window pass and an idle pass.
func benchReconcile(ctx context.Context, pool *pgxpool.Pool, opts Options, v map[string]float64) error {
	if err := fillLedger(ctx, pool, opts.BacklogRuns); err != nil {
		return err
	}
	baseline := time.Duration(1<<63 - 1)
	for range 3 {
		var missing int
		t0 := time.Now()
		if err := pool.QueryRow(ctx, `
			SELECT count(*) FROM rac.expectations e
			WHERE NOT EXISTS (
				SELECT 1 FROM rac.acks a
				WHERE a.run_id = e.run_id AND a.tenant_id = e.tenant_id AND a.action_id = e.action_id)`).Scan(&missing); err != nil {
			return fmt.Errorf("anti-join baseline: %w", err)
		}
		baseline = min(baseline, time.Since(t0))
	}
	rec, err := reconciler.New(pool, reconciler.Options{Name: "rac-bench"})
	if err != nil {
		return fmt.Errorf("new reconciler: %w", err)
	}
	pass := func(what string) (time.Duration, reconciler.Summary, error) {
		t0 := time.Now()
		sum, err := rec.RunOnce(ctx)
		if err != nil {
			return 0, sum, fmt.Errorf("%s pass: %w", what, err)
		}
		return time.Since(t0), sum, nil
	}
	full, _, err := pass("backlog")
	if err != nil {
		return err
	}
	if err := fillLedger(ctx, pool, opts.WindowRuns); err != nil {
		return err
	}
	window, wsum, err := pass("window")
	if err != nil {
		return err
	}
	idle, isum, err := pass("idle")
	if err != nil {
		return err
	}
	v["antijoin_s"] = baseline.Seconds()
	v["backlog_pass_s"] = full.Seconds()
	v["backlog_ratio"] = full.Seconds() / baseline.Seconds()
	v["window_pass_s"] = window.Seconds()
	v["window_candidates"] = float64(wsum.CandidateRuns)
	v["idle_pass_s"] = idle.Seconds()
	v["idle_candidates"] = float64(isum.CandidateRuns)
	return nil
}

// benchEvidence seals the ledger, verifies the chain and exports the
// sealed range.
func benchEvidence(ctx context.Context, pool *pgxpool.Pool, v map[string]float64) error {
	// A seal covers only final rows: wait until the horizon (cluster-wide:
	// any open transaction of the server holds it back) has passed them.
	if err := waitFinal(ctx, pool, 2*time.Minute); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	t0 := time.Now()
	sealed, err := seal.Seal(ctx, pool)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	sealTime := time.Since(t0)
	if !sealed.Sealed || sealed.Rows == 0 {
		return errors.New("seal: nothing was final to seal")
	}
	t0 = time.Now()
	rep, err := seal.Verify(ctx, pool, seal.VerifyOptions{})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	verifyTime := time.Since(t0)
	if rep.Tamper != nil {
		return fmt.Errorf("verify: the scratch ledger does not verify: %s", rep.Tamper)
	}
	dir, err := os.MkdirTemp("", "rac-bench-export-")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	t0 = time.Now()
	m, err := export.Export(ctx, pool, export.Options{Seals: &export.SealRange{From: sealed.Seal.ID, To: sealed.Seal.ID},
		Format: export.Format("csv"), Dir: filepath.Join(dir, "out"), ToolVersion: "rac bench"})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	exportTime := time.Since(t0)
	var exported int64
	for _, f := range m.Files {
		exported += f.Rows
	}
	v["seal_rows_per_s"] = float64(sealed.Rows) / sealTime.Seconds()
	v["verify_rows_per_s"] = float64(rep.Rows) / verifyTime.Seconds()
	v["export_rows_per_s"] = float64(exported) / exportTime.Seconds()
	return nil
}

// variant is one way of writing a business transaction; work runs between
// the harness's BEGIN and COMMIT.
type variant struct {
	name string
	work func(ctx context.Context, tx pgx.Tx) error
}

// timing accumulates one variant's timed transactions.
type timing struct {
	n       int
	elapsed time.Duration
}

func (t timing) txPerSec() float64 { return float64(t.n) / t.elapsed.Seconds() }

// benchWrites compares ledger.Ack and ledger.Expect with hand-written
// inserts of the same values, at opts.Clients clients.
func benchWrites(ctx context.Context, pool *pgxpool.Pool, opts Options, v map[string]float64) error {
	for _, sql := range []string{
		`CREATE TABLE public.bench_incidents (id bigserial PRIMARY KEY, run_id uuid NOT NULL, note text NOT NULL)`,
		// The plain table: rac.acks's columns and defaults and its unique
		// key, without foreign keys, triggers or row-level security.
		`CREATE TABLE public.bench_plain_acks (LIKE rac.acks INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED)`,
		`ALTER TABLE public.bench_plain_acks ADD UNIQUE (run_id, tenant_id, action_id, idempotency_key)`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			return fmt.Errorf("create benchmark tables: %w", err)
		}
	}
	var createIncident int16
	if err := pool.QueryRow(ctx, `SELECT id FROM rac.contract_actions WHERE domain = $1 AND action = $2`,
		string(ledger.Incidents), string(ledger.CreateIncident)).Scan(&createIncident); err != nil {
		return fmt.Errorf("look up %s/%s: %w", ledger.Incidents, ledger.CreateIncident, err)
	}
	standard := ledger.StandardRun(5 * time.Minute)
	ids := make([]int16, len(standard))
	deadlines := make([]int64, len(standard))
	for i, e := range standard {
		if err := pool.QueryRow(ctx, `SELECT id FROM rac.contract_actions WHERE domain = $1 AND action = $2`,
			string(e.Domain), string(e.Action)).Scan(&ids[i]); err != nil {
			return fmt.Errorf("look up %s/%s: %w", e.Domain, e.Action, err)
		}
		deadlines[i] = e.Deadline.Milliseconds()
	}

	conns := make([]*pgxpool.Conn, opts.Clients)
	for i := range conns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			for _, c := range conns[:i] {
				c.Release()
			}
			return fmt.Errorf("acquire connection %d: %w", i, err)
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()

	// The raw statements name the author, as the library does per
	// connection; left to the column default, a PL/pgSQL call per row,
	// they would flatter the library.
	var author int32
	if err := pool.QueryRow(ctx, `SELECT rac.author_id()`).Scan(&author); err != nil {
		return fmt.Errorf("register the benchmark's author: %w", err)
	}
	const declaredBy = "rac-bench"
	on := true
	l := ledger.New(ledger.Options{Registerer: prometheus.NewRegistry(), Enabled: &on, DeclaredBy: declaredBy})
	var seq atomic.Int64
	ackValues := func() (uuid.UUID, string, string) {
		runID := uuid.New()
		return runID, fmt.Sprintf("inc-%08d", seq.Add(1)), "create_incident:" + runID.String()[:8]
	}
	const insertIncident = `INSERT INTO public.bench_incidents (run_id, note) VALUES ($1, 'disk full on db-7')`
	acks, err := interleave(ctx, conns, opts.Duration, []variant{
		{name: "raw ack", work: func(ctx context.Context, tx pgx.Tx) error {
			runID, resultID, key := ackValues()
			if _, err := tx.Exec(ctx, insertIncident, runID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO public.bench_plain_acks (tenant_id, run_id, action_id, result_id, idempotency_key, author_id)
				VALUES (1, $1, $2, $3, $4, $5)
				ON CONFLICT (run_id, tenant_id, action_id, idempotency_key) DO NOTHING`,
				runID, createIncident, resultID, key, author)
			return err
		}},
		{name: "ledger.Ack", work: func(ctx context.Context, tx pgx.Tx) error {
			runID, resultID, key := ackValues()
			if _, err := tx.Exec(ctx, insertIncident, runID); err != nil {
				return err
			}
			return l.Ack(ctx, tx, ledger.Ack{RunID: runID, Domain: ledger.Incidents, Action: ledger.CreateIncident,
				ResultID: resultID, IdempotencyKey: key})
		}},
	})
	if err != nil {
		return err
	}
	if err := checkRows(ctx, pool, "public.bench_plain_acks", acks[0].n); err != nil {
		return err
	}
	exps, err := interleave(ctx, conns, opts.Duration, []variant{
		{name: "raw expect", work: func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO rac.expectations
					(tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by, author_id)
				SELECT 1, $3, u.action_id, u.deadline_ms, c.now, c.now + u.deadline_ms * interval '1 millisecond', $4, $5
				FROM unnest($1::smallint[], $2::bigint[]) AS u(action_id, deadline_ms),
				     (SELECT clock_timestamp() AS now) AS c`,
				ids, deadlines, uuid.New(), declaredBy, author)
			return err
		}},
		{name: "ledger.Expect", work: func(ctx context.Context, tx pgx.Tx) error {
			return l.Expect(ctx, tx, uuid.New(), standard...)
		}},
	})
	if err != nil {
		return err
	}
	v["ack_raw_tx_per_s"] = acks[0].txPerSec()
	v["ack_tx_per_s"] = acks[1].txPerSec()
	v["ack_ratio"] = acks[1].txPerSec() / acks[0].txPerSec()
	v["expect_raw_tx_per_s"] = exps[0].txPerSec()
	v["expect_tx_per_s"] = exps[1].txPerSec()
	v["expect_ratio"] = exps[1].txPerSec() / exps[0].txPerSec()
	return nil
}

// checkRows checks that table holds at least the timed transactions' rows
// (plus the warm-up's): a silent ON CONFLICT skip would flatter a variant.
func checkRows(ctx context.Context, pool *pgxpool.Pool, table string, atLeast int) error {
	var got int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&got); err != nil {
		return fmt.Errorf("count %s: %w", table, err)
	}
	if got < atLeast {
		return fmt.Errorf("%s holds %d rows, want at least %d", table, got, atLeast)
	}
	return nil
}

// interleave warms every variant up (4 transactions a client), then runs
// them in turns, segments of 32 transactions a client, reversing the order
// every round, until each variant has run for at least d (and one round
// at least). The order reversal and the turns share slow drift and bursts
// of noise between the variants.
func interleave(ctx context.Context, conns []*pgxpool.Conn, d time.Duration, vs []variant) ([]timing, error) {
	for _, v := range vs {
		if _, err := segment(ctx, conns, v, 4*len(conns)); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	out := make([]timing, len(vs))
	order := make([]int, len(vs))
	for i := range order {
		order[i] = i
	}
	n := 32 * len(conns)
	for {
		for _, i := range order {
			el, err := segment(ctx, conns, vs[i], n)
			if err != nil {
				return nil, err
			}
			out[i].n += n
			out[i].elapsed += el
		}
		slices.Reverse(order)
		if slices.MinFunc(out, func(a, b timing) int { return cmp.Compare(a.elapsed, b.elapsed) }).elapsed >= d {
			return out, nil
		}
	}
}

// segment runs n transactions of v spread over every connection and
// returns their wall time.
func segment(ctx context.Context, conns []*pgxpool.Conn, v variant, n int) (time.Duration, error) {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := time.Now()
	for _, c := range conns {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				err := txutil.WithTx(ctx, c, pgx.TxOptions{}, v.work)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("%s: %w", v.name, err) })
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// waitFinal polls until every row of the scratch ledger is below the
// horizon, or fails after limit naming the cause.
func waitFinal(ctx context.Context, pool *pgxpool.Pool, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		final, err := db.New().LedgerFinal(ctx, pool)
		if err != nil {
			return fmt.Errorf("read the horizon: %w", err)
		}
		if final {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the horizon did not pass the scratch ledger's rows within %v: another transaction of the server is open", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
