package main

import (
	"context"
	"fmt"
	"time"

	"github.com/racledger/racledger/internal/seal"
)

const verifySynopsis = "rac verify [--from SEAL] [--head HASH] [--format text|json] [--quiet] [--database-url URL]"

// verifyJSON is the JSON output of rac verify.
type verifyJSON struct {
	// Verdict is intact, tampered, unsealed (rows but no seal: exit 4) or
	// rolled-back (the published head was lost in a failover or restore:
	// exit 6).
	Verdict string `json:"verdict"`
	Seals   int    `json:"seals"`
	Rows    int64  `json:"rows"`
	// HeadID and HeadHash name the chain's head; null with no seals.
	HeadID   *int64  `json:"head_id"`
	HeadHash *string `json:"head_hash"`
	// PublishedHeadFoundAt is the seal holding --head (0 without it).
	PublishedHeadFoundAt int64 `json:"published_head_found_at,omitempty"`
	// UnsealedRows counts the rows no seal covers yet.
	UnsealedRows int64 `json:"unsealed_rows"`
	// Tamper describes the first mismatch; null when intact.
	Tamper          *tamperJSON `json:"tamper"`
	DurationSeconds float64     `json:"duration_seconds"`
}

type tamperJSON struct {
	SealID int64  `json:"seal_id"`
	Kind   string `json:"kind"`
	Table  string `json:"table,omitempty"`
	RowID  int64  `json:"row_id,omitempty"`
	After  int64  `json:"after,omitempty"`
	Before int64  `json:"before,omitempty"`
	Detail string `json:"detail"`
}

// runVerify implements `rac verify`: recompute every seal from the rows and
// check the chain (and, with --head, that it contains a head published
// elsewhere), then count the rows no seal covers. Exit 0 intact (rows
// written after the last seal are listed as unsealed, not as intact), 4
// tampered (the first bad seal, table and row are printed) or an empty
// chain over a ledger that holds rows, 6 rolled back (the published head
// is missing on a promoted or restored server: lost in a failover), 1
// error.
func runVerify(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "verify", verifySynopsis)
	dbURL := databaseFlag(fs, env)
	from := fs.Int64("from", 0, "first seal to verify; its prev_hash is trusted (default: the whole chain)")
	var opts seal.VerifyOptions
	hashVar(fs, &opts.Head, "head", "a seal `HASH` published elsewhere: the chain must contain it")
	format := formatFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if err := checkFormat(*format); err != nil {
		return exitUsage, err
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
	opts.Progress = sealProgress(env, "verify")
	rep, err := seal.Verify(ctx, pool, opts)
	if err != nil {
		return exitError, err
	}
	if *format == formatJSON {
		out := verifyJSON{Verdict: "intact", Seals: rep.Seals, Rows: rep.Rows, UnsealedRows: rep.UnsealedRows(),
			PublishedHeadFoundAt: rep.HeadFoundAt, DurationSeconds: time.Since(start).Seconds()}
		if rep.Head != nil {
			id, h := rep.Head.ID, rep.Head.Hash.String()
			out.HeadID, out.HeadHash = &id, &h
		}
		code := exitOK
		switch {
		case rep.Tamper != nil:
			tp := rep.Tamper
			out.Verdict, code = "tampered", exitTampered
			if tp.Kind == seal.KindRolledBack {
				out.Verdict, code = "rolled-back", exitRolledBack
			}
			out.Tamper = &tamperJSON{SealID: tp.SealID, Kind: tp.Kind, Table: tp.Table, RowID: tp.RowID,
				After: tp.After, Before: tp.Before, Detail: tp.String()}
		case !rep.Intact():
			out.Verdict, code = "unsealed", exitTampered
		}
		if err := writeJSON(env.stdout, out); err != nil {
			return exitError, err
		}
		return code, nil
	}
	if rep.Tamper != nil && rep.Tamper.Kind == seal.KindRolledBack {
		fmt.Fprintf(env.stdout, "ROLLED BACK: %s\n", rep.Tamper)
		return exitRolledBack, nil
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
