package demo

import (
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

// Fault is what goes wrong in one simulated run.
type Fault string

// The faults a run can have; FaultNone is a healthy run.
const (
	FaultNone    Fault = "none"
	FaultMissing Fault = "missing"
	FaultFailed  Fault = "failed"
	FaultLate    Fault = "late"
	FaultDrift   Fault = "drift"
	FaultStale   Fault = "stale"
	FaultInvalid Fault = "invalid"
)

// Faults lists every injected fault, in report order.
var Faults = []Fault{FaultMissing, FaultFailed, FaultLate, FaultDrift, FaultStale, FaultInvalid}

// Retry is how a healthy run exercises the ack path without a fault.
type Retry string

const (
	// RetryNone acks every action once.
	RetryNone Retry = ""
	// RetryDuplicate sends one ack twice with the same idempotency key;
	// the second is a no-op.
	RetryDuplicate Retry = "duplicate"
	// RetryRecovered reports one action failed, then succeeded on retry.
	RetryRecovered Retry = "recovered"
)

// faultRates are the injected faults per 10,000 runs (10% of runs in all).
var faultRates = []struct {
	fault  Fault
	per10k int
}{
	{FaultMissing, 250},
	{FaultFailed, 200},
	{FaultLate, 200},
	{FaultDrift, 150},
	{FaultStale, 100},
	{FaultInvalid, 100},
}

// Retry rates per 10,000 runs, drawn among healthy runs.
const (
	duplicatePer10k = 300
	recoveredPer10k = 200
)

// Ref names one (domain, action) pair.
type Ref = reconciler.Ref

// finalize is the action whose absence makes a run stale.
var finalize = Ref{Domain: ledger.Orchestrator, Action: ledger.FinalizeRun}

// PlannedRun is one simulated run and what goes wrong in it.
type PlannedRun struct {
	ID    uuid.UUID
	Seq   int
	Fault Fault
	// Target is the action the fault (or the retry) hits.
	Target Ref
	Retry  Retry
}

// Finding is one finding the reconciler must record.
type Finding struct {
	RunID uuid.UUID
	Ref   Ref
	Kind  string
}

// Findings returns what the reconciler must report for r once every
// deadline has passed and the late acks are in: open findings of the
// violation kinds, and late findings. A stale run has two.
func (r PlannedRun) Findings() []Finding {
	f := func(kind string) Finding { return Finding{RunID: r.ID, Ref: r.Target, Kind: kind} }
	switch r.Fault {
	case FaultMissing:
		return []Finding{f(reconciler.KindMissing)}
	case FaultFailed:
		return []Finding{f(reconciler.KindFailed)}
	case FaultLate:
		return []Finding{f(reconciler.KindLate)}
	case FaultDrift:
		return []Finding{f(reconciler.KindDrift)}
	case FaultStale:
		return []Finding{f(reconciler.KindMissing), f(reconciler.KindStale)}
	case FaultInvalid:
		return []Finding{f(reconciler.KindInvalid)}
	}
	return nil
}

// Violated reports whether r's verdict must be violated: it has an open
// finding (a late ack is history, not a violation).
func (r PlannedRun) Violated() bool { return r.Fault != FaultNone && r.Fault != FaultLate }

// Plan returns n runs with faults drawn from seed: the same seed gives the
// same faults, targets and retries in the same order (run ids are random).
// When n is at least len(Faults)+1, every fault occurs at least once.
func Plan(n int, seed uint64) []PlannedRun {
	rng := rand.New(rand.NewPCG(seed, 0x5241432d44454d4f)) // "RAC-DEMO"
	standard := ledger.StandardRun(0)
	all := make([]Ref, len(standard))
	for i, e := range standard {
		all[i] = Ref{Domain: e.Domain, Action: e.Action}
	}
	notFinalize := all[:len(all)-1] // StandardRun lists finalize_run last

	runs := make([]PlannedRun, n)
	for i := range runs {
		runs[i] = PlannedRun{ID: uuid.New(), Seq: i + 1, Fault: drawFault(rng)}
	}
	if n > len(Faults) {
		ensureEveryFault(runs, rng)
	}
	for i := range runs {
		r := &runs[i]
		switch r.Fault {
		case FaultMissing:
			// A missing finalize_run is a stale run, counted apart.
			r.Target = notFinalize[rng.IntN(len(notFinalize))]
		case FaultStale:
			r.Target = finalize
		case FaultNone:
			r.Target = all[rng.IntN(len(all))]
			switch x := rng.IntN(10_000); {
			case x < duplicatePer10k:
				r.Retry = RetryDuplicate
			case x < duplicatePer10k+recoveredPer10k:
				r.Retry = RetryRecovered
			}
		default:
			r.Target = all[rng.IntN(len(all))]
		}
	}
	return runs
}

// drawFault draws one run's fault at faultRates.
func drawFault(rng *rand.Rand) Fault {
	x := rng.IntN(10_000)
	for _, fr := range faultRates {
		if x < fr.per10k {
			return fr.fault
		}
		x -= fr.per10k
	}
	return FaultNone
}

// ensureEveryFault gives each fault that was not drawn to a run picked at
// random among the healthy ones and those whose fault occurs more than
// once, so a small demo still shows every kind. With more runs than faults
// such a run always exists.
func ensureEveryFault(runs []PlannedRun, rng *rand.Rand) {
	count := map[Fault]int{}
	for _, r := range runs {
		count[r.Fault]++
	}
	order := rng.Perm(len(runs))
	for _, f := range Faults {
		if count[f] > 0 {
			continue
		}
		for _, i := range order {
			if old := runs[i].Fault; old == FaultNone || count[old] > 1 {
				count[old]--
				runs[i].Fault = f
				count[f]++
				break
			}
		}
	}
}

// Injected counts the findings runs must produce, by kind, every kind of
// Faults present.
func Injected(runs []PlannedRun) map[string]int {
	counts := map[string]int{}
	for _, f := range Faults {
		counts[string(f)] = 0
	}
	for _, r := range runs {
		for _, f := range r.Findings() {
			counts[f.Kind]++
		}
	}
	return counts
}
