// Package ledger is the write side of RAC Ledger: a service declares at T0
// what must happen in a run (Expect) and every domain acknowledges what did
// happen (Ack), each inside the caller's own database transaction.
//
// # Why inside the caller's transaction
//
// The failure RAC exists to catch is the silent one: a run "succeeds" while
// its incident, policy record or trace was never written. An ack written in
// the same transaction as the domain's own row is true by construction: if
// the domain row commits, the ack commits; if it rolls back, so does the
// ack. Every write therefore takes a DBTX (a pgx.Tx, *pgx.Conn or
// *pgxpool.Pool) and never begins or commits anything itself.
//
// # Never costing the caller its business write
//
// A malformed ack must not abort the transaction it rides in. Every call is
// validated in Go first (names, sizes, UTF-8, JSON, deadlines) and then
// against the catalog, which is cached in memory and reloaded on a miss;
// retries are ON CONFLICT DO NOTHING. Refused input returns an error that
// wraps ErrInvalid and a specific sentinel (ErrUnknownAction,
// ErrNoDeadline, ...) and writes nothing. A batch is one statement, so it
// is all or nothing.
//
// # Idempotency
//
//   - Ack with an IdempotencyKey already used for the same tenant, run,
//     domain and action: no error, no second row. Without a key an ack is
//     never deduplicated.
//   - Expect of an expectation already declared with the same deadline:
//     no-op. With a different deadline: *ConflictError (ErrConflict).
//
// # Operations
//
// RAC_ENABLED=false (or Options.Enabled) turns writes into no-ops after the
// in-Go checks: an operational kill switch. Metrics rac_expectations_written_total
// and rac_acks_written_total{domain,action,outcome} are registered on
// Options.Registerer; they count rows written by statements that
// succeeded, before the caller's commit.
//
// Times (declared_at, deadline_at, acked_at) come from the database clock.
// acked_at is when the ack was written; its transaction may commit later.
package ledger
