package main

import (
	"context"
	"fmt"
	"time"

	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/seal"
)

const verifySynopsis = "rac verify [--from SEAL] [--head HASH] [--database-url URL]"

// progressEvery is how often rac verify reports progress on stderr.
const progressEvery = 2 * time.Second

// runVerify implements `rac verify`: recompute every seal from the rows and
// check the chain (and, with --head, that it contains a head published
// elsewhere), then count the rows no seal covers. Exit 0 intact (rows
// written after the last seal are listed as unsealed, not as intact), 4
// tampered (the first bad seal, table and row are printed) or an empty
// chain over a ledger that holds rows, 1 error.
func runVerify(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "verify", verifySynopsis)
	dbURL := databaseFlag(fs, env)
	from := fs.Int64("from", 0, "first seal to verify; its prev_hash is trusted (default: the whole chain)")
	var opts seal.VerifyOptions
	hashVar(fs, &opts.Head, "head", "a seal `HASH` published elsewhere: the chain must contain it")
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if *from < 0 {
		return exitUsage, fmt.Errorf("%w: --from %d must not be negative", errUsage, *from)
	}
	opts.From = *from
	pool, err := connect(ctx, *dbURL)
	if err != nil {
		return exitError, err
	}
	defer pool.Close()

	start := time.Now()
	last := start
	var seals int
	var rows int64
	opts.Progress = func(h canon.SealHeader, n int64) {
		seals++
		rows += n
		if time.Since(last) >= progressEvery {
			last = time.Now()
			fmt.Fprintf(env.stderr, "verified %d seals, %d rows (through seal %d)\n", seals, rows, h.ID)
		}
	}
	rep, err := seal.Verify(ctx, pool, opts)
	if err != nil {
		return exitError, err
	}
	if rep.Tamper != nil {
		fmt.Fprintf(env.stdout, "TAMPERED: %s\n", rep.Tamper)
		return exitTampered, nil
	}
	elapsed := time.Since(start).Round(time.Millisecond)
	if !rep.Intact() {
		// An empty chain over rows: nothing vouches for them, and it is
		// what deleting every seal leaves.
		fmt.Fprintf(env.stdout, "UNSEALED: no seals, but the ledger holds %s: nothing vouches for them "+
			"(never sealed, or the chain was deleted); run `rac seal` (%s)\n", rep.UnsealedString(), elapsed)
		return exitTampered, nil
	}
	switch {
	case rep.Head == nil:
		fmt.Fprintf(env.stdout, "intact: no seals, no rows (%s)\n", elapsed)
	case opts.Head != nil:
		fmt.Fprintf(env.stdout, "intact: %d seals, %d rows; published head found at seal %d (%d later seals); %s (%s)\n",
			rep.Seals, rep.Rows, rep.HeadFoundAt, rep.Head.ID-rep.HeadFoundAt, rep.Head, elapsed)
	default:
		fmt.Fprintf(env.stdout, "intact: %d seals, %d rows; %s (%s)\n", rep.Seals, rep.Rows, rep.Head, elapsed)
	}
	if u := rep.UnsealedString(); u != "" {
		fmt.Fprintf(env.stdout, "unsealed: %s written at or after horizon %d, seal %d's end: no seal covers them yet, "+
			"they are not evidence until `rac seal` does\n", u, rep.UnsealedFrom, rep.Head.ID)
	}
	return exitOK, nil
}
