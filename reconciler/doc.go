// Package reconciler turns expectations and acks into verdicts an auditor
// can trust: it finds what is missing, failed, late, drifted, stale or
// invalid, and records it in append-only history (rac.findings,
// rac.finding_resolutions, rac.run_verdicts, rac.reconciliations).
//
// # Statuses
//
// The status of each (run, domain, action) as of the pass's database time T,
// with deadline D and grace G, is defined once, in SQL (rac.action_state):
// acked (first success at or before D+G), late (after D+G), failed (error
// acks only), pending (nothing yet, T < D+G), missing (nothing, T >= D+G),
// drift (acked, never expected). An expectation without deadline is an
// invalid contract and is never missing or late. A run whose
// orchestrator/finalize_run is missing is stale. A run is violated while it
// has an open finding, pending while anything is pending, else clean.
//
// # Passes
//
// A pass reads the watermark left by the finished passes (the largest
// horizon and deadline they covered) and takes a new horizon,
// pg_snapshot_xmin(pg_current_snapshot()): every transaction below it has
// finished, so rows whose tx_id lies in [previous horizon, horizon) are final
// and none can appear later. Ids and timestamps are not a safe watermark; a
// transaction that took a lower id can commit after one that took a higher
// one.
//
// The candidates are the runs of those rows plus the runs whose deadline
// (+ grace) fell since the previous pass, narrowed by anti-joins to those
// that need a record: a run whose every action was declared and acked on
// time, and that no pass ever recorded, is clean and costs no write. An
// idle pass has empty windows and scans nothing.
//
// Candidates are read a page at a time and reconciled in batches
// (Options.BatchSize runs), each one SQL statement in its own transaction
// that computes the statuses, inserts findings, resolutions and verdict
// changes with INSERT ... ON CONFLICT DO NOTHING, and records the batch in
// rac.reconciliations. The last batch of a pass is marked final; only final
// batches move the watermark.
//
// # Confluence
//
// A pass sees only what has committed, and a transaction may commit long
// after it wrote: an ack written on time may commit after a pass recorded
// its action missing, an expectation may commit after the acks it
// declares. Verdicts must still depend only on the evidence: once every
// transaction has finished and a pass has run past them all, the open
// findings and every verdict are what one pass over the same rows would
// give, whatever passes ran before, when, and how many at once. Three rules
// give that:
//
//   - Every run the tx window touches that already has a finding or a
//     verdict is judged again, however an earlier pass found it. A row's
//     transaction falls in exactly one window, and the pass of that window
//     sees every row of the run committed before it.
//   - A judgment closes, by an appended resolution, every open finding the
//     statuses no longer support, and names the evidence row and the rule:
//     retracted (written in time, committed after the finding: it never
//     held), acked (a late success), superseded (a failure report made a
//     missing action failed), declared (the ack preceded its declaration).
//     Which rule applies follows from the rows' timestamps alone. A closed
//     finding never holds again, because the evidence that closed it stays.
//   - Judgments are recorded in the order of the evidence they saw. Every
//     candidate read and every batch takes a transaction-level advisory lock
//     (ReconcileLock) first, in a READ COMMITTED transaction, so its
//     statement's snapshot holds every batch committed before it: a pass
//     that started earlier can never record an older judgment over a newer
//     one. Time-driven findings (missing) are only recorded, never undone
//     by an older clock, so passes with different as_of times agree too.
//
// The seeded simulation in simulation_test.go checks this against a
// from-scratch judgment of the committed rows.
//
// # Failure handling
//
// A batch is atomic: a pass killed mid-batch leaves nothing of that batch.
// Batches that committed before are complete records; the pass has no final
// row, so the next pass starts again from the previous watermark and
// records only what is still missing.
//
// A transaction left open (for example a session idle in transaction) holds
// the horizon back for everyone, because the horizon is cluster-wide: rows
// written after it are not reconciled through the tx window until it ends.
// rac_reconciler_horizon_lag_seconds and a warning log name the holder.
// Deadline-driven findings keep flowing meanwhile, and when the transaction
// finally commits its rows fall into the next window, however late.
//
// # Replica safety
//
// Any number of reconcilers may run at once. They coordinate on the
// reconciler lock, so two replicas never judge concurrently, and the later
// one's batches find everything recorded and add nothing. Correctness comes
// from constraints where coordination cannot help: a finding is unique per
// (tenant, run, domain, action, kind), a resolution per finding, a verdict
// change per (run, seq), each inserted with ON CONFLICT DO NOTHING. Metrics
// count only rows this process inserted, so replicas never double count.
//
// # Shutdown
//
// When the context of RunOnce or Run is done (SIGINT or SIGTERM in the rac
// command), the batch in flight commits, a batch still waiting for the lock
// gives up, and the pass stops before its next batch; Options.PassTimeout
// bounds a pass the same way. The stopped pass has no final batch, so the
// next pass covers its windows again and records only what is still
// missing.
package reconciler
