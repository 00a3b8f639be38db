package demo

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/reconciler"
)

// shape is a plan without its random run ids.
func shape(runs []PlannedRun) []PlannedRun {
	out := make([]PlannedRun, len(runs))
	for i, r := range runs {
		r.ID = [16]byte{}
		out[i] = r
	}
	return out
}

func TestPlanIsDeterministic(t *testing.T) {
	t.Parallel()
	require.Equal(t, shape(Plan(2000, 7)), shape(Plan(2000, 7)))
	require.NotEqual(t, shape(Plan(2000, 7)), shape(Plan(2000, 8)))
}

func TestPlanInjectsEveryFaultInSmallDemos(t *testing.T) {
	t.Parallel()
	for seed := range uint64(200) {
		for _, n := range []int{len(Faults) + 1, 20, 300} {
			for kind, count := range Injected(Plan(n, seed)) {
				require.Positive(t, count, "seed %d, %d runs: no %s", seed, n, kind)
			}
		}
	}
}

func TestPlanFindings(t *testing.T) {
	t.Parallel()
	runs := Plan(10_000, 1)
	counts := map[Fault]int{}
	for _, r := range runs {
		counts[r.Fault]++
		switch r.Fault {
		case FaultStale:
			require.Equal(t, finalize, r.Target)
		case FaultMissing:
			require.NotEqual(t, finalize, r.Target, "a missing finalize_run is a stale run")
		}
		if r.Retry != RetryNone {
			require.Equal(t, FaultNone, r.Fault, "only healthy runs retry")
		}
	}
	injected := Injected(runs)
	require.Equal(t, counts[FaultMissing]+counts[FaultStale], injected[reconciler.KindMissing],
		"a stale run is also missing its finalize_run")
	require.Equal(t, counts[FaultStale], injected[reconciler.KindStale])
	require.Equal(t, counts[FaultLate], injected[reconciler.KindLate])
	// About 10% of runs are faulty.
	require.InDelta(t, 1000, len(runs)-counts[FaultNone], 150)
}
