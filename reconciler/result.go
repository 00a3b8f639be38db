package reconciler

import (
	"time"

	"github.com/google/uuid"

	"github.com/racledger/racledger/ledger"
)

// Verdicts a run can have.
const (
	VerdictClean    = "clean"
	VerdictPending  = "pending"
	VerdictViolated = "violated"
)

// Finding kinds recorded in rac.findings.
const (
	KindMissing = "missing"
	KindFailed  = "failed"
	KindDrift   = "drift"
	KindInvalid = "invalid"
	KindLate    = "late"
	KindStale   = "stale"
)

// Statuses of one expected action, as ReconcileBatch returns them
// (rac.action_state, and drift for an ack nobody expected); result sorts
// them into Result's lists.
const (
	statusAcked   = "acked"
	statusLate    = "late"
	statusFailed  = "failed"
	statusPending = "pending"
	statusMissing = "missing"
	statusDrift   = "drift"
)

// Ref names one (domain, action) pair.
type Ref struct {
	Domain ledger.Domain `json:"domain"`
	Action ledger.Action `json:"action"`
}

func (r Ref) String() string { return string(r.Domain) + "/" + string(r.Action) }

// Result is the reconciliation result of one run: every expected
// action sorted by its status, the drift, and the run's verdict.
type Result struct {
	RunID  uuid.UUID `json:"run_id"`
	Tenant string    `json:"tenant"`
	// Expected lists every declared action; the lists below partition it
	// by status (Invalid overlaps: an expectation without deadline is also
	// pending, acked or failed).
	Expected []Ref `json:"expected"`
	Acked    []Ref `json:"acked"`
	Late     []Ref `json:"late"`
	Failed   []Ref `json:"failed"`
	Pending  []Ref `json:"pending"`
	Missing  []Ref `json:"missing"`
	Invalid  []Ref `json:"invalid"`
	// Drift lists actions acked but never expected.
	Drift []Ref `json:"drift"`
	// Stale: the run's orchestrator/finalize_run is missing.
	Stale bool `json:"stale"`
	// Verdict is clean, pending or violated.
	Verdict string `json:"verdict"`
	// ReconciliationID is the rac.reconciliations row that recorded it.
	ReconciliationID int64 `json:"reconciliation_id"`
	// AsOf is the database time the statuses hold for.
	AsOf time.Time `json:"as_of"`
}

// Summary describes one pass.
type Summary struct {
	PassID uuid.UUID `json:"pass_id"`
	// HorizonFrom and HorizonTo bound the transaction ids whose rows this
	// pass examined: [HorizonFrom, HorizonTo).
	HorizonFrom int64 `json:"horizon_from"`
	HorizonTo   int64 `json:"horizon_to"`
	// DeadlineFrom and DeadlineTo bound the deadlines (grace removed) that
	// fell during this pass's window: (DeadlineFrom, DeadlineTo].
	DeadlineFrom time.Time `json:"deadline_from"`
	DeadlineTo   time.Time `json:"deadline_to"`
	// AsOf is the database time statuses were computed for.
	AsOf time.Time `json:"as_of"`
	// Batches is how many transactions recorded the pass.
	Batches int `json:"batches"`
	// CandidateRuns is how many runs the pass reconciled: the runs its
	// windows touched that need a record (anything but declared and acked
	// on time within the windows). 0 for an idle pass.
	CandidateRuns       int            `json:"candidate_runs"`
	FindingsRecorded    int            `json:"findings_recorded"`
	ResolutionsRecorded int            `json:"resolutions_recorded"`
	VerdictsRecorded    int            `json:"verdicts_recorded"`
	FindingsByKind      map[string]int `json:"findings_by_kind"`
	// ResolutionsByKind counts the resolutions this pass recorded by
	// resolution: acked, retracted, superseded, declared.
	ResolutionsByKind map[string]int `json:"resolutions_by_kind"`
	// OpenFindings counts, after the pass, the open findings by kind.
	OpenFindings map[string]int `json:"open_findings"`
	// HorizonLag is the age of the oldest transaction holding the horizon
	// back (0 when none does).
	HorizonLag time.Duration `json:"horizon_lag"`
	Duration   time.Duration `json:"duration"`
}

// Open returns the number of open findings after the pass.
func (s Summary) Open() int {
	n := 0
	for _, c := range s.OpenFindings {
		n += c
	}
	return n
}
