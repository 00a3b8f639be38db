package ledger_test

// Write-path benchmarks. Every figure that matters is a ratio against a
// baseline measured in the same process, on the same database, interleaved
// with the variant it is compared to, so machine noise (fsync latency, CPU
// steal, the Go client sharing the box with the server) hits both alike.
// Absolute throughput is reported too but only means something on the
// machine that produced it. See docs/performance.md; run them with
// .ci/bench. Benchmarks run only under -bench, never in a plain go test.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// EnvBenchClients sets how many clients the throughput benchmarks run at
// once (default 16), e.g. RAC_BENCH_CLIENTS=64 for the 64-connection
// figures.
const EnvBenchClients = "RAC_BENCH_CLIENTS"

var (
	// benchClients is how many clients write at once, each on its own
	// connection: RAC_BENCH_CLIENTS, default 16. (int32, the type of a
	// pool's MaxConns, so it sizes pools and slices alike.)
	benchClients = benchClientsFromEnv()
	// benchSegment is how many transactions one variant runs (spread over
	// all clients) before the next variant takes its turn.
	benchSegment = int(benchClients) * 32
	// benchWarmup is how many transactions each variant runs before the
	// timer starts: it prepares every statement on every connection and
	// fills the ledger's catalog cache.
	benchWarmup = int(benchClients) * 4
)

// benchClientsFromEnv reads RAC_BENCH_CLIENTS; a malformed value stops the
// test binary before anything runs.
func benchClientsFromEnv() int32 {
	v := os.Getenv(EnvBenchClients)
	if v == "" {
		return 16
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 1 || n > 1000 {
		fmt.Fprintf(os.Stderr, "%s=%q: want an integer from 1 to 1000\n", EnvBenchClients, v)
		os.Exit(2)
	}
	return int32(n)
}

// benchCount reads the count the environment variable name sets for a
// benchmark, def when it is unset; a value that is not an integer in
// [lo, hi] fails the benchmark.
func benchCount(b *testing.B, name string, def, lo, hi int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		b.Fatalf("%s=%q: want an integer from %d to %d", name, v, lo, hi)
	}
	return n
}

// benchVariant is one way of writing a business transaction. work runs
// between the harness's BEGIN and COMMIT; seq is unique per transaction
// within one benchmark run.
type benchVariant struct {
	name string
	work func(ctx context.Context, tx pgx.Tx, seq int64) error
	// conns, when set, are the variant's own connections (another
	// database or login); otherwise it runs on the benchmark's.
	conns []*pgxpool.Conn
	// setup, when set, runs before each of the variant's segments (and
	// its warm-up), teardown after: a variant that changes the schema
	// under test (a policy, a constraint). After setup one untimed
	// transaction per connection replans the changed statements.
	setup, teardown func(ctx context.Context) error
}

// variantResult accumulates one variant's timed transactions.
type variantResult struct {
	n       int
	elapsed time.Duration
	// perSegment is the tx/s of each timed segment, in order (round by
	// round), for the spread of the per-segment ratios.
	perSegment []float64
}

func (r variantResult) txPerSec() float64 { return float64(r.n) / r.elapsed.Seconds() }

// benchDB returns a fresh migrated database with public.incidents and
// benchClients connections held for the whole benchmark run (its pool has
// room for a few more). The database is dropped when the run ends.
func benchDB(b *testing.B) (*pgxpool.Pool, []*pgxpool.Conn) {
	b.Helper()
	ctx := context.Background()
	db := pgtest.NewDatabase(b)
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		b.Fatalf("pool config: %v", err)
	}
	cfg.MaxConns = max(benchClients+4, pgtest.PoolMaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatalf("new pool: %v", err)
	}
	// Registered after NewDatabase's drop, so it runs before it.
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE public.incidents (id bigserial PRIMARY KEY, run_id uuid NOT NULL, note text NOT NULL)`); err != nil {
		b.Fatalf("create incidents: %v", err)
	}
	conns := make([]*pgxpool.Conn, benchClients)
	for i := range conns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatalf("acquire connection %d: %v", i, err)
		}
		conns[i] = c
	}
	// Registered after the pool's cleanup, so it runs before the pool closes.
	b.Cleanup(func() {
		for _, c := range conns {
			c.Release()
		}
	})
	return pool, conns
}

// benchLedger returns a Ledger configured as a service would run it, with
// its metrics registered (their cost is part of what is measured).
func benchLedger(declaredBy string) *ledger.Ledger {
	on := true
	return ledger.New(ledger.Options{Registerer: prometheus.NewRegistry(), Enabled: &on, DeclaredBy: declaredBy})
}

// runSegment runs n transactions of v spread over every client and returns
// the wall time they took.
func runSegment(ctx context.Context, conns []*pgxpool.Conn, v benchVariant, n int, seq *atomic.Int64) (time.Duration, error) {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	if v.conns != nil {
		conns = v.conns
	}
	start := time.Now()
	for _, c := range conns {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := oneTx(ctx, c, v, seq.Add(1)); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// runSetUp is runSegment between v's setup and teardown, if it has them:
// after setup, one untimed transaction per connection replans what it
// changed, then the timed segment runs.
func runSetUp(ctx context.Context, conns []*pgxpool.Conn, v benchVariant, n int, seq *atomic.Int64) (time.Duration, error) {
	if v.setup == nil {
		return runSegment(ctx, conns, v, n, seq)
	}
	if err := v.setup(ctx); err != nil {
		return 0, fmt.Errorf("%s: set up: %w", v.name, err)
	}
	replan := len(conns)
	if v.conns != nil {
		replan = len(v.conns)
	}
	_, err := runSegment(ctx, conns, v, replan, seq)
	var d time.Duration
	if err == nil {
		d, err = runSegment(ctx, conns, v, n, seq)
	}
	if v.teardown != nil {
		if tdErr := v.teardown(ctx); tdErr != nil {
			err = errors.Join(err, fmt.Errorf("%s: tear down: %w", v.name, tdErr))
		}
	}
	return d, err
}

// oneTx is one business transaction: BEGIN, v's work, COMMIT.
func oneTx(ctx context.Context, c *pgxpool.Conn, v benchVariant, seq int64) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", v.name, err)
	}
	if err := v.work(ctx, tx, seq); err != nil {
		return errors.Join(fmt.Errorf("%s: %w", v.name, err), tx.Rollback(ctx))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: commit: %w", v.name, err)
	}
	return nil
}

// runInterleaved warms every variant up, then times b.N transactions of
// each. Variants take turns in segments of benchSegment transactions and the
// order reverses every round (0 A B, B A 0, 0 A B, ...), so slow drift and
// bursts of noise are shared between them.
func runInterleaved(b *testing.B, conns []*pgxpool.Conn, variants []benchVariant) []variantResult {
	b.Helper()
	ctx := context.Background()
	var seq atomic.Int64
	for _, v := range variants {
		if _, err := runSetUp(ctx, conns, v, benchWarmup, &seq); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
	results := make([]variantResult, len(variants))
	order := make([]int, len(variants))
	for i := range order {
		order[i] = i
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(benchSegment, b.N-done)
		for _, i := range order {
			d, err := runSetUp(ctx, conns, variants[i], n, &seq)
			if err != nil {
				b.Fatal(err)
			}
			results[i].n += n
			results[i].elapsed += d
			results[i].perSegment = append(results[i].perSegment, float64(n)/d.Seconds())
		}
		slices.Reverse(order)
		done += n
	}
	b.StopTimer()
	return results
}

// reportSpread reports the ratio num/den segment by segment: the median
// (robust to a checkpoint or autovacuum hitting one segment) and the lowest
// and highest, which show how much of the overall ratio is noise. Each
// segment is paired with its neighbour of the same round. (As metrics, not
// logs: the testing package keeps only the first ten log lines of a
// benchmark, across all its ramp-up runs.)
func reportSpread(b *testing.B, label string, num, den variantResult) {
	b.Helper()
	rs := make([]float64, len(num.perSegment))
	for i := range rs {
		rs[i] = num.perSegment[i] / den.perSegment[i]
	}
	slices.Sort(rs)
	med := rs[len(rs)/2]
	if len(rs)%2 == 0 {
		med = (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
	}
	b.ReportMetric(med, label+"_seg_med")
	b.ReportMetric(rs[0], label+"_seg_min")
	b.ReportMetric(rs[len(rs)-1], label+"_seg_max")
}

// expectRowCount checks that every timed and warm-up transaction left its
// rows: a silent ON CONFLICT skip would flatter a variant.
func expectRowCount(b *testing.B, pool *pgxpool.Pool, table string, want int) {
	b.Helper()
	var got int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&got); err != nil {
		b.Fatalf("count %s: %v", table, err)
	}
	if got != want {
		b.Fatalf("%s holds %d rows, want %d", table, got, want)
	}
}

// actionID looks a catalog id up once, as a hand-written integration would.
func actionID(b *testing.B, pool *pgxpool.Pool, domain ledger.Domain, action ledger.Action) int16 {
	b.Helper()
	var id int16
	if err := pool.QueryRow(context.Background(),
		`SELECT id FROM rac.contract_actions WHERE domain = $1 AND action = $2`, string(domain), string(action)).Scan(&id); err != nil {
		b.Fatalf("look up %s/%s: %v", domain, action, err)
	}
	return id
}

// benchAuthor registers the benchmark's login as an author and returns its
// id, for hand-written inserts that name it as ledger.Ack and Expect do.
func benchAuthor(b *testing.B, pool *pgxpool.Pool) int32 {
	b.Helper()
	var id int32
	if err := pool.QueryRow(context.Background(), `SELECT rac.author_id()`).Scan(&id); err != nil {
		b.Fatalf("register the author: %v", err)
	}
	return id
}

// benchAckValues are the values of the ack of business transaction seq,
// identical for every variant.
func benchAckValues(seq int64) (runID uuid.UUID, resultID, key string) {
	runID = uuid.New()
	return runID, fmt.Sprintf("inc-%08d", seq), "create_incident:" + runID.String()[:8]
}

const insertIncident = `INSERT INTO public.incidents (run_id, note) VALUES ($1, 'disk full on db-7')`

// BenchmarkAckInServiceTx measures what an ack costs the business
// transaction it rides in: BEGIN; INSERT INTO public.incidents; ack; COMMIT,
// from benchClients clients at once (RAC_BENCH_CLIENTS, default 16).
//
//   - 0: the business transaction with no ack.
//   - A: the ack as a hand-written single-row INSERT into rac.acks, naming
//     its author (looked up once, as the library does per connection).
//   - B: the ack through ledger.Ack with the same values.
//
// One op is one transaction of each variant. B/A_ratio is the figure that
// matters (target ≥ 0.95); A/0_ratio is what any ack costs at all.
func BenchmarkAckInServiceTx(b *testing.B) {
	pool, conns := benchDB(b)
	l := benchLedger("")
	createIncident := actionID(b, pool, ledger.Incidents, ledger.CreateIncident)
	author := benchAuthor(b, pool)

	variants := []benchVariant{
		{name: "0 no ack", work: func(ctx context.Context, tx pgx.Tx, seq int64) error {
			runID, _, _ := benchAckValues(seq)
			_, err := tx.Exec(ctx, insertIncident, runID)
			return err
		}},
		{name: "A raw insert", work: func(ctx context.Context, tx pgx.Tx, seq int64) error {
			runID, resultID, key := benchAckValues(seq)
			if _, err := tx.Exec(ctx, insertIncident, runID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO rac.acks (tenant_id, run_id, action_id, result_id, idempotency_key, author_id)
				VALUES (1, $1, $2, $3, $4, $5)
				ON CONFLICT (tenant_id, run_id, action_id, idempotency_key) DO NOTHING`,
				runID, createIncident, resultID, key, author)
			return err
		}},
		{name: "B ledger.Ack", work: func(ctx context.Context, tx pgx.Tx, seq int64) error {
			runID, resultID, key := benchAckValues(seq)
			if _, err := tx.Exec(ctx, insertIncident, runID); err != nil {
				return err
			}
			return l.Ack(ctx, tx, ledger.Ack{RunID: runID, Domain: ledger.Incidents, Action: ledger.CreateIncident,
				ResultID: resultID, IdempotencyKey: key})
		}},
	}
	res := runInterleaved(b, conns, variants)

	expectRowCount(b, pool, "public.incidents", 3*(b.N+benchWarmup))
	expectRowCount(b, pool, "rac.acks", 2*(b.N+benchWarmup))

	noAck, raw, viaLedger := res[0], res[1], res[2]
	b.ReportMetric(noAck.txPerSec(), "0_noack_tx/s")
	b.ReportMetric(raw.txPerSec(), "A_raw_tx/s")
	b.ReportMetric(viaLedger.txPerSec(), "B_ledger_tx/s")
	b.ReportMetric(viaLedger.txPerSec()/raw.txPerSec(), "B/A_ratio")
	b.ReportMetric(raw.txPerSec()/noAck.txPerSec(), "A/0_ratio")
	reportSpread(b, "B/A", viaLedger, raw)
}

// BenchmarkExpectStandardRun measures declaring a run's five standard
// expectations, one transaction per run, from benchClients clients at once
// (RAC_BENCH_CLIENTS, default 16).
//
//   - A: a hand-written five-row INSERT ... SELECT FROM unnest(...), with
//     declared_at and deadline_at from one clock_timestamp() reading and
//     the author named (looked up once).
//   - B: ledger.Expect with ledger.StandardRun(5*time.Second), which also
//     checks for earlier declarations with another deadline.
//
// One op is one transaction of each variant. Target: B/A_ratio ≥ 0.9.
func BenchmarkExpectStandardRun(b *testing.B) {
	pool, conns := benchDB(b)
	const declaredBy = "bench-service"
	l := benchLedger(declaredBy)
	standard := ledger.StandardRun(5 * time.Second)
	ids := make([]int16, len(standard))
	deadlines := make([]int64, len(standard))
	for i, e := range standard {
		ids[i] = actionID(b, pool, e.Domain, e.Action)
		deadlines[i] = e.Deadline.Milliseconds()
	}
	author := benchAuthor(b, pool)

	variants := []benchVariant{
		{name: "A raw insert", work: func(ctx context.Context, tx pgx.Tx, _ int64) error {
			_, err := tx.Exec(ctx, `INSERT INTO rac.expectations
					(tenant_id, run_id, action_id, deadline_ms, declared_at, deadline_at, declared_by, author_id)
				SELECT 1, $3, u.action_id, u.deadline_ms, c.now, c.now + u.deadline_ms * interval '1 millisecond', $4, $5
				FROM unnest($1::smallint[], $2::bigint[]) AS u(action_id, deadline_ms),
				     (SELECT clock_timestamp() AS now) AS c`,
				ids, deadlines, uuid.New(), declaredBy, author)
			return err
		}},
		{name: "B ledger.Expect", work: func(ctx context.Context, tx pgx.Tx, _ int64) error {
			return l.Expect(ctx, tx, uuid.New(), ledger.StandardRun(5*time.Second)...)
		}},
	}
	res := runInterleaved(b, conns, variants)

	expectRowCount(b, pool, "rac.expectations", 2*len(standard)*(b.N+benchWarmup))

	raw, viaLedger := res[0], res[1]
	b.ReportMetric(raw.txPerSec(), "A_raw_tx/s")
	b.ReportMetric(viaLedger.txPerSec(), "B_ledger_tx/s")
	b.ReportMetric(viaLedger.txPerSec()/raw.txPerSec(), "B/A_ratio")
	reportSpread(b, "B/A", viaLedger, raw)
}

// EnvBenchAcks overrides how many acks BenchmarkAckStorage writes per shape.
const EnvBenchAcks = "RAC_BENCH_ACKS"

// EnvBenchTxID set to "batch" makes BenchmarkAckStorage keep the column
// default for tx_id, so every ack of a 100k-row fill transaction shares one
// id. By default each ack gets its own increasing id, as when every ack
// rides in its own business transaction.
const EnvBenchTxID = "RAC_BENCH_TXID"

const (
	defaultBenchAcks = 1_000_000
	storageBatch     = 100_000
)

// relSize is where the bytes of one relation go.
type relSize struct {
	name      string
	total     int64 // pg_total_relation_size: heap, its forks, TOAST and indexes
	heap      int64 // main fork
	heapForks int64 // free space map and visibility map
	toast     int64 // TOAST table and its index
	indexes   []indexSize
	// From pgstattuple, when available.
	tupleLen, freeSpace int64
	fill                time.Duration
}

type indexSize struct {
	name, am string
	bytes    int64
	// leafDensity is pgstatindex's avg_leaf_density (b-trees only; -1 when
	// unknown).
	leafDensity float64
}

type storageResult struct {
	n           int
	lean, naive relSize
	// took is the wall time of both fills and their VACUUM ANALYZE.
	took time.Duration
}

// storageCache keeps the last result: the fill runs once per benchmark run
// even when the framework calls the function again with a larger b.N.
var storageCache *storageResult

// BenchmarkAckStorage fills the real rac.acks table and a naive ack table
// (names as text in every row, xid8 with a b-tree, a b-tree primary key)
// with the same N acks (RAC_BENCH_ACKS, default 1,000,000), then VACUUM
// ANALYZEs both and compares their size on disk. Targets: lean ≤ 170 MiB per
// million acks and lean/naive ≤ 0.7. The per-relation breakdown is logged.
//
// The fill runs once whatever b.N is; run it with -benchtime 1x.
func BenchmarkAckStorage(b *testing.B) {
	n := benchCount(b, EnvBenchAcks, defaultBenchAcks, 5, math.MaxInt)
	perRowTxID := os.Getenv(EnvBenchTxID) != "batch"

	res := storageCache
	if b.N == 1 || res == nil || res.n != n {
		res = fillAndMeasure(b, n, perRowTxID)
		storageCache = res
		b.StopTimer()
		logStorage(b, res, perRowTxID)
	}

	// One op is one fill of both shapes, whatever b.N: this replaces the
	// framework's ns/op, which the cached reruns would make meaningless.
	b.ReportMetric(float64(res.took.Nanoseconds()), "ns/op")
	mib := func(r relSize) float64 { return float64(r.total) / float64(1<<20) * 1e6 / float64(res.n) }
	b.ReportMetric(mib(res.lean), "lean_MiB/M")
	b.ReportMetric(mib(res.naive), "naive_MiB/M")
	b.ReportMetric(float64(res.lean.total)/float64(res.naive.total), "lean/naive_ratio")
	b.ReportMetric(float64(res.lean.total)/float64(res.n), "lean_B/ack")
	b.ReportMetric(float64(res.naive.total)/float64(res.n), "naive_B/ack")
}

func fillAndMeasure(b *testing.B, n int, perRowTxID bool) *storageResult {
	b.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	exec := func(sql string, args ...any) {
		b.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			b.Fatalf("%s: %v", firstLine(sql), err)
		}
	}

	exec(`CREATE TABLE public.naive_acks (
		tenant          text        NOT NULL,
		domain          text        NOT NULL,
		action          text        NOT NULL,
		run_id          uuid        NOT NULL,
		tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
		acked_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
		result_id       text,
		idempotency_key text,
		error           text,
		metadata        jsonb,
		id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		UNIQUE (tenant, run_id, domain, action, idempotency_key)
	)`)
	exec(`CREATE INDEX naive_acks_tx_id_idx ON public.naive_acks (tx_id)`)

	// The acks both shapes receive: five per run (the standard actions, in
	// order), a random v4 run id, result ids like inc-00012345, keys like
	// create_incident:1a2b3c4d, 1% failure reports, no metadata.
	exec(`CREATE UNLOGGED TABLE public.bench_ack_source (
		seq             bigint   NOT NULL,
		run_id          uuid     NOT NULL,
		action_id       smallint NOT NULL,
		domain          text     NOT NULL,
		action          text     NOT NULL,
		result_id       text     NOT NULL,
		idempotency_key text     NOT NULL,
		error           text
	)`)
	exec(`INSERT INTO public.bench_ack_source
		SELECT r.r * 5 + a.ord, r.run_id, ca.id, ca.domain, ca.action,
		       a.prefix || '-' || lpad(r.r::text, 8, '0'),
		       ca.action || ':' || left(r.run_id::text, 8),
		       CASE WHEN (r.r * 5 + a.ord) % 100 = 99 THEN 'downstream timeout after 5000 ms' END
		FROM (SELECT r, gen_random_uuid() AS run_id FROM generate_series(0, ($1::bigint + 4) / 5 - 1) AS r) AS r
		CROSS JOIN (VALUES (0, 'inc', 'incidents', 'create_incident'),
		                   (1, 'pol', 'policies', 'evaluate_policy'),
		                   (2, 'trc', 'logs', 'start_trace'),
		                   (3, 'trc', 'logs', 'complete_trace'),
		                   (4, 'fin', 'orchestrator', 'finalize_run')) AS a(ord, prefix, domain, action)
		JOIN rac.contract_actions ca ON ca.domain = a.domain AND ca.action = a.action
		WHERE r.r * 5 + a.ord < $1`, n)
	exec(`CREATE INDEX ON public.bench_ack_source (seq)`)
	b.Cleanup(func() {
		// The database is dropped anyway; this keeps a failed run's kept
		// database small.
		_, _ = pool.Exec(context.Background(), `DROP TABLE IF EXISTS public.bench_ack_source`)
	})

	var baseTxID int64
	if err := pool.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&baseTxID); err != nil {
		b.Fatalf("read transaction id: %v", err)
	}
	// $3 is the first simulated tx id; in batch mode the column default
	// applies instead and there is no $3.
	leanInsert := `INSERT INTO rac.acks (tx_id, run_id, tenant_id, action_id, result_id, idempotency_key, error)
		SELECT $3::bigint + s.seq, s.run_id, 1, s.action_id, s.result_id, s.idempotency_key, s.error
		FROM public.bench_ack_source s WHERE s.seq >= $1 AND s.seq < $2 ORDER BY s.seq`
	naiveInsert := `INSERT INTO public.naive_acks (tx_id, tenant, domain, action, run_id, result_id, idempotency_key, error)
		SELECT ($3::bigint + s.seq)::text::xid8, 'default', s.domain, s.action, s.run_id, s.result_id, s.idempotency_key, s.error
		FROM public.bench_ack_source s WHERE s.seq >= $1 AND s.seq < $2 ORDER BY s.seq`
	if !perRowTxID {
		leanInsert = `INSERT INTO rac.acks (run_id, tenant_id, action_id, result_id, idempotency_key, error)
			SELECT s.run_id, 1, s.action_id, s.result_id, s.idempotency_key, s.error
			FROM public.bench_ack_source s WHERE s.seq >= $1 AND s.seq < $2 ORDER BY s.seq`
		naiveInsert = `INSERT INTO public.naive_acks (tenant, domain, action, run_id, result_id, idempotency_key, error)
			SELECT 'default', s.domain, s.action, s.run_id, s.result_id, s.idempotency_key, s.error
			FROM public.bench_ack_source s WHERE s.seq >= $1 AND s.seq < $2 ORDER BY s.seq`
	}

	b.ResetTimer()
	started := time.Now()
	res := &storageResult{n: n}
	// Each batch is its own transaction; the shapes alternate so both fill
	// under the same conditions.
	for lo := 0; lo < n; lo += storageBatch {
		hi := min(lo+storageBatch, n)
		for _, s := range []struct {
			sql  string
			fill *time.Duration
		}{{leanInsert, &res.lean.fill}, {naiveInsert, &res.naive.fill}} {
			start := time.Now()
			args := []any{lo, hi}
			if perRowTxID {
				args = append(args, baseTxID)
			}
			tag, err := pool.Exec(ctx, s.sql, args...)
			if err != nil {
				b.Fatalf("fill rows %d..%d: %v", lo, hi, err)
			}
			if got := tag.RowsAffected(); got != int64(hi-lo) {
				b.Fatalf("fill rows %d..%d: wrote %d rows, want %d", lo, hi, got, hi-lo)
			}
			*s.fill += time.Since(start)
		}
	}
	exec(`VACUUM (ANALYZE) rac.acks`)
	exec(`VACUUM (ANALYZE) public.naive_acks`)
	b.StopTimer()
	res.took = time.Since(started)

	stats := true
	if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pgstattuple`); err != nil {
		b.Logf("pgstattuple unavailable, no density figures: %v", err)
		stats = false
	}
	fill := res.lean.fill
	res.lean = measureRelation(b, pool, "rac.acks", stats)
	res.lean.fill = fill
	fill = res.naive.fill
	res.naive = measureRelation(b, pool, "public.naive_acks", stats)
	res.naive.fill = fill
	expectRowCount(b, pool, "rac.acks", n)
	expectRowCount(b, pool, "public.naive_acks", n)
	return res
}

func measureRelation(b *testing.B, pool *pgxpool.Pool, rel string, stats bool) relSize {
	b.Helper()
	ctx := context.Background()
	r := relSize{name: rel}
	err := pool.QueryRow(ctx, `SELECT pg_total_relation_size(c.oid),
			pg_relation_size(c.oid, 'main'),
			pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm'),
			coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)
		FROM pg_class c WHERE c.oid = $1::regclass`, rel).Scan(&r.total, &r.heap, &r.heapForks, &r.toast)
	if err != nil {
		b.Fatalf("size of %s: %v", rel, err)
	}
	rows, err := pool.Query(ctx, `SELECT ic.relname::text, am.amname::text, pg_total_relation_size(ic.oid)
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_am am ON am.oid = ic.relam
		WHERE i.indrelid = $1::regclass
		ORDER BY pg_total_relation_size(ic.oid) DESC, ic.relname`, rel)
	if err != nil {
		b.Fatalf("indexes of %s: %v", rel, err)
	}
	for rows.Next() {
		ix := indexSize{leafDensity: -1}
		if err := rows.Scan(&ix.name, &ix.am, &ix.bytes); err != nil {
			b.Fatalf("indexes of %s: %v", rel, err)
		}
		r.indexes = append(r.indexes, ix)
	}
	if err := rows.Err(); err != nil {
		b.Fatalf("indexes of %s: %v", rel, err)
	}
	if !stats {
		return r
	}
	if err := pool.QueryRow(ctx, `SELECT tuple_len, free_space FROM pgstattuple($1::regclass)`, rel).
		Scan(&r.tupleLen, &r.freeSpace); err != nil {
		b.Fatalf("pgstattuple(%s): %v", rel, err)
	}
	schema, _, _ := strings.Cut(rel, ".")
	for i, ix := range r.indexes {
		if ix.am != "btree" {
			continue
		}
		if err := pool.QueryRow(ctx, `SELECT avg_leaf_density FROM pgstatindex($1::regclass)`,
			schema+"."+ix.name).Scan(&r.indexes[i].leafDensity); err != nil {
			b.Fatalf("pgstatindex(%s): %v", ix.name, err)
		}
	}
	return r
}

// logStorage logs where the bytes go in a few long lines (the testing
// package keeps only the first ten lines a benchmark logs).
func logStorage(b *testing.B, res *storageResult, perRowTxID bool) {
	b.Helper()
	mode := "one tx_id per ack (as when each ack rides in its own business transaction)"
	if !perRowTxID {
		mode = fmt.Sprintf("one tx_id per %d-row fill transaction (the column default)", storageBatch)
	}
	b.Logf("%d acks per shape, %s; MiB per million acks:", res.n, mode)
	mib := func(v int64) string { return fmt.Sprintf("%.1f", float64(v)/float64(1<<20)*1e6/float64(res.n)) }
	for _, r := range []relSize{res.lean, res.naive} {
		heap := "heap " + mib(r.heap)
		if r.tupleLen > 0 {
			heap += fmt.Sprintf(" (tuples %s, free %s, page overhead %s)",
				mib(r.tupleLen), mib(r.freeSpace), mib(r.heap-r.tupleLen-r.freeSpace))
		}
		b.Logf("%s: total %s (%.1f B/ack), filled in %s = %s + fsm/vm %s + toast %s",
			r.name, mib(r.total), float64(r.total)/float64(res.n), r.fill.Round(time.Millisecond),
			heap, mib(r.heapForks), mib(r.toast))
		parts := make([]string, len(r.indexes))
		for i, ix := range r.indexes {
			parts[i] = fmt.Sprintf("%s (%s) %s", ix.name, ix.am, mib(ix.bytes))
			if ix.leafDensity >= 0 {
				parts[i] += fmt.Sprintf(" [leaf density %.1f%%]", ix.leafDensity)
			}
		}
		b.Logf("  %s indexes: %s", r.name, strings.Join(parts, ", "))
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// BenchmarkAckBoundByRLS measures what row-level security costs a service
// that writes under its own role instead of the tables' owner: BEGIN; SET
// LOCAL ROLE; INSERT INTO public.incidents; ledger.Ack; COMMIT, from benchClients
// clients at once.
//
//   - A: SET LOCAL ROLE to the connecting superuser (not bound by RLS).
//   - B: SET LOCAL ROLE to a role with INSERT on rac.acks, bound by RLS:
//     each insert checks the tenant scope (rac.tenant_scope(), once per
//     statement) and that tx_id and acked_at are the server's.
//
// One op is one transaction of each variant. B/A_ratio is the cost of the
// policies.
func BenchmarkAckBoundByRLS(b *testing.B) {
	pool, conns := benchDB(b)
	l := benchLedger("")
	ctx := context.Background()
	var owner string
	if err := pool.QueryRow(ctx, `SELECT current_user`).Scan(&owner); err != nil {
		b.Fatal(err)
	}
	bound := "rac_bench_bound_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, sql := range []string{
		`CREATE ROLE ` + bound + ` NOLOGIN`,
		`GRANT USAGE ON SCHEMA rac TO ` + bound,
		`GRANT SELECT ON rac.tenants, rac.contract_actions TO ` + bound,
		`GRANT SELECT, INSERT ON rac.acks TO ` + bound,
		`GRANT INSERT ON public.incidents TO ` + bound,
		`GRANT USAGE ON SEQUENCE public.incidents_id_seq TO ` + bound,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	b.Cleanup(func() {
		for _, sql := range []string{`DROP OWNED BY ` + bound, `DROP ROLE ` + bound} {
			_, _ = pool.Exec(context.Background(), sql)
		}
	})

	as := func(role string) func(ctx context.Context, tx pgx.Tx, seq int64) error {
		setRole := `SET LOCAL ROLE ` + pgx.Identifier{role}.Sanitize()
		return func(ctx context.Context, tx pgx.Tx, seq int64) error {
			runID, resultID, key := benchAckValues(seq)
			if _, err := tx.Exec(ctx, setRole); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, insertIncident, runID); err != nil {
				return err
			}
			return l.Ack(ctx, tx, ledger.Ack{RunID: runID, Domain: ledger.Incidents, Action: ledger.CreateIncident,
				ResultID: resultID, IdempotencyKey: key})
		}
	}
	res := runInterleaved(b, conns, []benchVariant{
		{name: "A owner", work: as(owner)},
		{name: "B bound by RLS", work: as(bound)},
	})
	expectRowCount(b, pool, "rac.acks", 2*(b.N+benchWarmup))

	owned, rls := res[0], res[1]
	b.ReportMetric(owned.txPerSec(), "A_owner_tx/s")
	b.ReportMetric(rls.txPerSec(), "B_rls_tx/s")
	b.ReportMetric(rls.txPerSec()/owned.txPerSec(), "B/A_ratio")
	reportSpread(b, "B/A", rls, owned)
}
