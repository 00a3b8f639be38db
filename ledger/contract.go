package ledger

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Domain names the part of the system that owes an action, e.g. Incidents.
// Names match ^[a-z][a-z0-9_]{0,62}$.
type Domain string

// Action names what a domain must do in a run, e.g. CreateIncident.
// Names match ^[a-z][a-z0-9_]{0,62}$.
type Action string

// The standard domains of a run, seeded in the catalog by the migrations.
const (
	Incidents    Domain = "incidents"
	Policies     Domain = "policies"
	Logs         Domain = "logs"
	Orchestrator Domain = "orchestrator"
)

// The standard actions of a run, seeded in the catalog by the migrations.
const (
	CreateIncident Action = "create_incident"
	EvaluatePolicy Action = "evaluate_policy"
	StartTrace     Action = "start_trace"
	CompleteTrace  Action = "complete_trace"
	FinalizeRun    Action = "finalize_run"
)

// Expectation declares that Domain must perform Action within Deadline of
// the declaration. Deadlines are recorded with millisecond precision.
type Expectation struct {
	Domain   Domain
	Action   Action
	Deadline time.Duration
}

// StandardRun returns the five expectations every standard run declares at
// T0, each with deadline d: an incident, a policy evaluation, a trace
// started and completed, and the orchestrator's finalization.
func StandardRun(d time.Duration) []Expectation {
	return []Expectation{
		{Domain: Incidents, Action: CreateIncident, Deadline: d},
		{Domain: Policies, Action: EvaluatePolicy, Deadline: d},
		{Domain: Logs, Action: StartTrace, Deadline: d},
		{Domain: Logs, Action: CompleteTrace, Deadline: d},
		{Domain: Orchestrator, Action: FinalizeRun, Deadline: d},
	}
}

// Ack acknowledges what a domain did in a run. An Ack with Error set is a
// failure report: the domain tried and could not.
type Ack struct {
	RunID  uuid.UUID
	Domain Domain
	Action Action
	// ResultID is the id of the record the domain wrote; "" for none.
	ResultID string
	// Error, when not empty, reports that the domain failed.
	Error string
	// IdempotencyKey makes retries safe: the same key again for the same
	// run, domain and action writes nothing. "" means the ack is never
	// deduplicated. The key is already scoped to the tenant, run, domain
	// and action, so do not repeat them in it: the domain's record id is a
	// natural key, and every byte of key is stored twice (row and unique
	// index).
	IdempotencyKey string
	// Metadata is an optional JSON object or value stored with the ack.
	Metadata json.RawMessage
}
