package seal_test

import (
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/internal/seal"
)

// BenchmarkSealVerify seals and verifies a ledger of RAC_BENCH_ROWS rows
// (default 1,000,000; split evenly over the six tables) and reports rows/s
// for each and the peak Go heap in use while they ran:
//
//	RAC_BENCH_ROWS=1000000 go test -run '^$' -bench BenchmarkSealVerify -benchtime 1x -timeout 60m ./internal/seal/
func BenchmarkSealVerify(b *testing.B) {
	total := 1_000_000
	if s := os.Getenv("RAC_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(b, err)
		total = n
	}
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	perTable := total / 6
	for done := 0; done < perTable; done += 50_000 {
		populate(b, pool, min(50_000, perTable-done))
	}
	_, err := pool.Exec(ctx, "VACUUM ANALYZE")
	require.NoError(b, err)
	pgtest.WaitFinal(b, pool)
	rows := float64(perTable * 6)

	for b.Loop() {
		peak := watchHeap()
		start := time.Now()
		res, err := seal.Seal(ctx, pool)
		sealTime := time.Since(start)
		sealPeak := peak()
		require.NoError(b, err)
		require.True(b, res.Sealed)

		peak = watchHeap()
		start = time.Now()
		rep, err := seal.Verify(ctx, pool, seal.VerifyOptions{})
		verifyTime := time.Since(start)
		verifyPeak := peak()
		require.NoError(b, err)
		require.Nil(b, rep.Tamper)

		b.ReportMetric(rows/sealTime.Seconds(), "seal-rows/s")
		b.ReportMetric(rows/verifyTime.Seconds(), "verify-rows/s")
		b.ReportMetric(float64(sealPeak)/(1<<20), "seal-peak-heap-MiB")
		b.ReportMetric(float64(verifyPeak)/(1<<20), "verify-peak-heap-MiB")
		b.Logf("%d rows: seal %v, verify %v", int(rows), sealTime, verifyTime)

		// The next iteration seals the same rows again from an empty chain.
		tamper(b, pool, "TRUNCATE rac.seal_chunks, rac.seals")
	}
}

// watchHeap samples the live heap every 10ms until the returned function is
// called, which returns the largest sample.
func watchHeap() func() uint64 {
	runtime.GC()
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(stop); return <-done }
}
