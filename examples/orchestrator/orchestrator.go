// Package orchestrator is an end-to-end example of RAC Ledger's run
// orchestration: an orchestrator and three domain services (incidents,
// policies, logs) sharing one PostgreSQL, each under its own login, a small
// worker pool executing the domain work, runs that go through every phase
// (created, authorized, executing, governance_check, finalizing,
// completed) with injected faults, a governance checkpoint that refuses
// and allows finalization, and a check that the reconciler agrees with it.
//
// Its test runs it (`go test -v ./examples/orchestrator/`, in CI with
// `go test ./...`): it logs in each service as its own member of
// rac_writer, pinned to its domain in rac.domain_roles, and checks every
// run's phases, checkpoints and the reconciler's findings.
// docs/orchestrator-guide.md walks through it.
package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/ledger"
)

// Fault is what goes wrong in a run.
type Fault int

// The faults the example injects, one per run in turn.
const (
	// NoFault: every domain acks; the checkpoint passes.
	NoFault Fault = iota
	// IncidentFails: the incident store returns an error; Track acks the
	// failure; the checkpoint refuses and the run is never finalized.
	IncidentFails
	// PolicyPanics: the policy engine panics; Track recovers and acks the
	// failure; the run's policy is FinalizeWithExceptions, so it is
	// finalized with the failure recorded as an exception.
	PolicyPanics
	// TraceInFlight: the trace's completion is still uncommitted at the
	// first checkpoint, which refuses (pending); it commits, and the
	// second checkpoint passes.
	TraceInFlight
	// IncidentLost: the incidents service never acts; the checkpoint
	// refuses (pending) and the run is never finalized.
	IncidentLost
	numFaults
)

func (f Fault) String() string {
	return [...]string{"none", "incident fails", "policy panics", "trace in flight", "incident lost"}[f]
}

// Pools are the four services' connections, each its own login.
type Pools struct {
	Orchestrator, Incidents, Policies, Logs *pgxpool.Pool
}

// Outcome is what happened to one run.
type Outcome struct {
	RunID uuid.UUID
	Fault Fault
	// Checks are the checkpoint outcomes in order (refused, passed, ...).
	Checks []string
	// Unmet is what the last checkpoint found unmet, "domain/action".
	Unmet []string
	// Phase is the run's last phase.
	Phase ledger.Phase
}

// Setup creates the services' business tables and grants them to
// rac_writer. Run it as the database owner.
func Setup(ctx context.Context, admin *pgxpool.Pool) error {
	_, err := admin.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS public.runs (id uuid PRIMARY KEY, status text NOT NULL);
		CREATE TABLE IF NOT EXISTS public.incidents (id bigserial PRIMARY KEY, run_id uuid NOT NULL);
		CREATE TABLE IF NOT EXISTS public.policy_evaluations (id bigserial PRIMARY KEY, run_id uuid NOT NULL, verdict text NOT NULL);
		CREATE TABLE IF NOT EXISTS public.traces (id bigserial PRIMARY KEY, run_id uuid NOT NULL);
		GRANT SELECT, INSERT, UPDATE ON public.runs, public.incidents, public.policy_evaluations, public.traces TO rac_writer;
		GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO rac_writer`)
	if err != nil {
		return fmt.Errorf("orchestrator example: setup: %w", err)
	}
	return nil
}

// Run drives n runs (faults in turn) through a pool of workers and
// returns what happened to each. deadline is every expectation's.
func Run(ctx context.Context, p Pools, n, workers int, deadline time.Duration) ([]Outcome, error) {
	l := ledger.New(ledger.Options{DeclaredBy: "orchestrator"})
	jobs := make(chan func() error)
	errs := make(chan error, n*4)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for job := range jobs {
				if err := job(); err != nil {
					errs <- err
				}
			}
		})
	}

	outcomes := make([]Outcome, n)
	var runWG sync.WaitGroup
	for i := range n {
		o := &outcomes[i]
		o.RunID, o.Fault = uuid.New(), Fault(i%int(numFaults))
		if err := start(ctx, l, p.Orchestrator, o.RunID, deadline); err != nil {
			close(jobs)
			return nil, err
		}
		// The domain work, on the worker pool; the orchestrator finalizes
		// once every job of the run is done.
		var done sync.WaitGroup
		traceHeld := make(chan struct{})    // TraceInFlight: completion written, not committed
		traceRelease := make(chan struct{}) // TraceInFlight: commit it now
		for _, job := range domainJobs(ctx, p, o.RunID, o.Fault, traceHeld, traceRelease) {
			done.Add(1)
			jobs <- func() error { defer done.Done(); return job() }
		}
		runWG.Go(func() {
			if o.Fault == TraceInFlight {
				<-traceHeld
			}
			if err := finalize(ctx, l, p.Orchestrator, o, traceRelease, &done); err != nil {
				errs <- err
			}
		})
	}
	runWG.Wait()
	close(jobs)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return outcomes, errors.Join(all...)
}

// start is T0: the run's own record, its expectations and its first
// phases, in one transaction.
func start(ctx context.Context, l *ledger.Ledger, db *pgxpool.Pool, run uuid.UUID, deadline time.Duration) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO public.runs (id, status) VALUES ($1, 'running')`, run); err != nil {
			return err
		}
		if err := l.Expect(ctx, tx, run, ledger.StandardRun(deadline)...); err != nil {
			return err
		}
		for _, ph := range []ledger.Phase{ledger.PhaseCreated, ledger.PhaseAuthorized, ledger.PhaseExecuting} {
			if err := l.Advance(ctx, tx, run, ph, ""); err != nil {
				return err
			}
		}
		return nil
	})
}

// domainJobs is the work the three services do for one run.
func domainJobs(ctx context.Context, p Pools, run uuid.UUID, fault Fault, traceHeld, traceRelease chan struct{}) []func() error {
	incidents := ledger.New(ledger.Options{})
	policies := ledger.New(ledger.Options{})
	logs := ledger.New(ledger.Options{})
	var jobs []func() error
	if fault != IncidentLost {
		jobs = append(jobs, func() error {
			return pgx.BeginFunc(ctx, p.Incidents, func(tx pgx.Tx) error {
				err := incidents.Track(ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident},
					func(ctx context.Context, tx pgx.Tx) (string, error) {
						var id string
						if err := tx.QueryRow(ctx, `INSERT INTO public.incidents (run_id) VALUES ($1) RETURNING id::text`, run).Scan(&id); err != nil {
							return "", err
						}
						if fault == IncidentFails {
							return "", errors.New("incident store: quota exceeded")
						}
						return id, nil
					})
				// The failure is acked; the service's transaction commits it.
				if err != nil && fault != IncidentFails {
					return err
				}
				return nil
			})
		})
	}
	jobs = append(jobs, func() error {
		return pgx.BeginFunc(ctx, p.Policies, func(tx pgx.Tx) error {
			err := policies.Track(ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Policies, Action: ledger.EvaluatePolicy},
				func(ctx context.Context, tx pgx.Tx) (string, error) {
					if fault == PolicyPanics {
						var rules map[string]string
						//lint:ignore SA5000 the injected fault: a bug that panics inside the tracked operation
						rules["default"] = "deny" // a bug: assignment to a nil map
					}
					var id string
					err := tx.QueryRow(ctx, `INSERT INTO public.policy_evaluations (run_id, verdict) VALUES ($1, 'allow') RETURNING id::text`, run).Scan(&id)
					return id, err
				})
			if err != nil && !errors.Is(err, ledger.ErrPanicked) {
				return err
			}
			return nil
		})
	})
	jobs = append(jobs, func() error {
		var traceID string
		var span *ledger.Span
		err := pgx.BeginFunc(ctx, p.Logs, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `INSERT INTO public.traces (run_id) VALUES ($1) RETURNING id::text`, run).Scan(&traceID); err != nil {
				return err
			}
			var err error
			span, err = logs.StartSpan(ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.StartTrace,
				ResultID: traceID, IdempotencyKey: traceID})
			return err
		})
		if err != nil {
			return err
		}
		return pgx.BeginFunc(ctx, p.Logs, func(tx pgx.Tx) error {
			if err := span.Complete(ctx, tx, traceID, nil); err != nil {
				return err
			}
			if fault == TraceInFlight {
				close(traceHeld) // written, not committed: the first checkpoint must not count it
				<-traceRelease
			}
			return nil
		})
	})
	return jobs
}

// finalize is the orchestrator's finalize transaction, retried once when
// the checkpoint refuses while work is still in flight.
func finalize(ctx context.Context, l *ledger.Ledger, db *pgxpool.Pool, o *Outcome, traceRelease chan struct{}, done *sync.WaitGroup) error {
	policy := ledger.RefuseUnmet
	if o.Fault == PolicyPanics {
		policy = ledger.FinalizeWithExceptions // best-effort runs: finish and record what was missed
	}
	for attempt := 0; ; attempt++ {
		if !(o.Fault == TraceInFlight && attempt == 0) {
			done.Wait() // every job of the run has finished
		}
		var res *ledger.CheckResult
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			var err error
			res, err = l.Checkpoint(ctx, tx, o.RunID, ledger.CheckpointOptions{Policy: policy})
			if errors.Is(err, ledger.ErrUnmet) {
				// Refused: commit the refusal as evidence; the run stays executing.
				return nil
			}
			if err != nil {
				return err
			}
			for _, ph := range []ledger.Phase{ledger.PhaseFinalizing, ledger.PhaseCompleted} {
				if err := l.Advance(ctx, tx, o.RunID, ph, ""); err != nil {
					return err
				}
				if ph == ledger.PhaseFinalizing {
					if _, err := tx.Exec(ctx, `UPDATE public.runs SET status = 'completed' WHERE id = $1`, o.RunID); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("orchestrator example: finalize run %s: %w", o.RunID, err)
		}
		o.Checks = append(o.Checks, res.Outcome)
		o.Unmet = o.Unmet[:0]
		for _, u := range res.Unmet {
			o.Unmet = append(o.Unmet, string(u.Domain)+"/"+string(u.Action))
		}
		if res.Finalized() {
			o.Phase = ledger.PhaseCompleted
			return nil
		}
		o.Phase = ledger.PhaseExecuting
		if o.Fault == TraceInFlight && attempt == 0 {
			close(traceRelease) // the trace commits now; check again
			continue
		}
		return nil // refused for good: the reconciler will report the run
	}
}

// Verify compares the checkpoint's outcomes with the reconciler's
// findings, read once a reconciler pass has covered every run and its
// deadlines: a finalized run that passed has no open finding; one
// finalized with exceptions or refused has exactly its unmet actions open
// (missing or failed); a run never finalized is stale, a finalized one is
// not.
func Verify(ctx context.Context, db *pgxpool.Pool, outcomes []Outcome) error {
	var errs []error
	for _, o := range outcomes {
		rows, err := db.Query(ctx, `SELECT domain || '/' || action, kind FROM rac.open_findings WHERE run_id = $1`, o.RunID)
		if err != nil {
			return fmt.Errorf("orchestrator example: read findings: %w", err)
		}
		var open []string
		stale := false
		for rows.Next() {
			var action, kind string
			if err := rows.Scan(&action, &kind); err != nil {
				rows.Close()
				return err
			}
			if action == "orchestrator/finalize_run" {
				stale = stale || kind == "stale"
				continue
			}
			open = append(open, action)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		sort.Strings(open)
		unmet := slices.Clone(o.Unmet)
		sort.Strings(unmet)
		if !slices.Equal(open, unmet) {
			errs = append(errs, fmt.Errorf("run %s (%s): checkpoint unmet %v, reconciler open %v", o.RunID, o.Fault, unmet, open))
		}
		if finalized := o.Phase == ledger.PhaseCompleted; stale == finalized {
			errs = append(errs, fmt.Errorf("run %s (%s): finalized %v but stale %v", o.RunID, o.Fault, finalized, stale))
		}
	}
	return errors.Join(errs...)
}
