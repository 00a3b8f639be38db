// Package demo simulates a service that uses RAC Ledger, with faults
// injected at realistic rates, and checks that the reconciler finds exactly
// what was injected. It backs `rac demo`.
//
// Each simulated run is one transaction, as in a real service: the run
// declares its five standard expectations (ledger.Expect), each domain
// writes its business row (a demo.records row) and acknowledges it
// (ledger.Ack) in that same transaction, and the transaction commits. The
// faults, one per faulty run, are the ones the reconciler must report:
//
//   - missing: a domain never acknowledges its action;
//   - failed: a domain acknowledges with an error and never succeeds;
//   - late: the success ack arrives after the deadline;
//   - drift: the run acknowledges an action it never declared;
//   - stale: orchestrator/finalize_run is never acknowledged, which is both
//     a missing finding and a stale one;
//   - invalid: an expectation is declared with a NULL deadline, written with
//     raw SQL as a misbehaving SQL client would (the Go API refuses it).
//
// Healthy runs sometimes retry an ack with the same idempotency key (a
// no-op) or recover from a transient error ack; neither may be reported.
//
// Expectations get a short deadline (2s by default). On-time acks are
// written with the declaration; the simulation then waits once until the
// database clock passes every deadline (plus the reconciler's grace),
// writes the late acks, waits until the reconciliation horizon has passed
// every demo transaction, and runs reconciliation passes until one covers
// them all. Fault assignment is deterministic for a seed; run ids are
// random, so repeated demos against one database never collide.
package demo
