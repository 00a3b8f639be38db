// Package bench measures what the ledger costs on a given PostgreSQL
// server, for `rac bench`: the write path (ledger.Ack and ledger.Expect
// against hand-written inserts of the same values, interleaved in one
// process as ledger/bench_test.go does), the reconciler (a backlog pass
// against the bare anti-join, a window pass, an idle pass), and sealing,
// verification and export throughput.
//
// Every measurement runs in a scratch database it creates (NewScratch,
// named rac_bench_<random>) and drops afterwards; it never writes into an
// existing ledger. Throughput comparisons are ratios of variants measured
// in turns, in segments whose order reverses every round, so noise hits
// both alike; absolute rates depend on the machine and its load.
package bench
