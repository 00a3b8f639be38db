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
// one. The candidates are the runs of those rows plus the runs whose
// deadline (+ grace) fell since the previous pass, narrowed by anti-joins to
// those that need a record: a run whose every action was acked on time is
// clean and costs no write. An idle pass has empty windows and scans
// nothing.
//
// Candidates are read a page at a time and reconciled in batches
// (Options.BatchSize runs), each one SQL statement in its own REPEATABLE
// READ transaction that computes the statuses, inserts findings,
// resolutions and verdict changes with INSERT ... ON CONFLICT DO NOTHING,
// and records the batch in rac.reconciliations. The last batch of a pass is
// marked final; only final batches move the watermark.
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
// Any number of reconcilers may run at once. Correctness comes from
// constraints: a finding is unique per (tenant, run, domain, action, kind),
// a resolution per finding, a verdict change per (run, seq). Under
// REPEATABLE READ a row another reconciler inserted concurrently surfaces as
// a serialization failure; the batch is retried, sees the row and records
// nothing twice. Metrics count only rows this process inserted, so replicas
// never double count.
package reconciler
