package main

import (
	"context"
	"fmt"

	"github.com/racledger/racledger/internal/seal"
)

const sealSynopsis = "rac seal [--sync-wait-timeout DURATION] [--format text|json] [--quiet] [--database-url URL]"

// sealJSON is the JSON output of rac seal.
type sealJSON struct {
	// Sealed reports whether a new seal was appended.
	Sealed bool `json:"sealed"`
	// Rows is the number of rows the new seal covers (0 when none).
	Rows int64 `json:"rows"`
	// HorizonTo is the new seal's horizon (0 when none).
	HorizonTo int64 `json:"horizon_to,omitempty"`
	// HeadID and HeadHash name the head of the chain to publish; null
	// when there are no seals.
	HeadID   *int64  `json:"head_id"`
	HeadHash *string `json:"head_hash"`
}

// runSeal implements `rac seal`: seal the rows that became final since the
// last seal and print the head ("seal ID head HASH"), the hash to publish.
// With nothing new final it prints the existing head (or "no seals").
func runSeal(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "seal", sealSynopsis)
	dbURL := databaseFlag(fs, env)
	syncWait := syncWaitFlag(fs)
	format := formatFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if err := checkFormat(*format); err != nil {
		return exitUsage, err
	}
	guard := newSyncWaitGuard("rac seal", *syncWait, env.logger)
	pool, err := connect(ctx, *dbURL, guard.configure)
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	if err := requirePrimary(ctx, pool, "rac seal"); err != nil {
		return exitError, err
	}
	stopGuard := guard.start(ctx, pool)
	defer stopGuard()
	sealer, err := seal.New(pool, seal.Options{Logger: env.commandLogger(), Progress: sealProgress(env, "seal")})
	if err != nil {
		return exitError, err
	}
	res, err := sealer.Seal(ctx)
	stopGuard()
	if gErr := guard.err(); gErr != nil {
		if res.Head != nil {
			gErr = fmt.Errorf("%w; the head it printed is not safe to publish until a standby has it: %s", gErr, res.Head)
		}
		return exitError, gErr
	}
	if err != nil {
		return exitError, err
	}
	if *format == formatJSON {
		out := sealJSON{Sealed: res.Sealed}
		if res.Sealed {
			out.Rows, out.HorizonTo = res.Rows, res.Seal.HorizonTo
		}
		if res.Head != nil {
			id, h := res.Head.ID, res.Head.Hash.String()
			out.HeadID, out.HeadHash = &id, &h
		}
		return exitOK, writeJSON(env.stdout, out)
	}
	switch {
	case res.Sealed:
		fmt.Fprintf(env.progress(), "sealed %d rows up to horizon %d\n", res.Rows, res.Seal.HorizonTo)
	case res.Head != nil:
		fmt.Fprintln(env.progress(), "nothing new is final; the head is unchanged")
	default:
		fmt.Fprintln(env.progress(), "nothing is final yet; no seals")
		return exitOK, nil
	}
	fmt.Fprintln(env.stdout, res.Head)
	return exitOK, nil
}
