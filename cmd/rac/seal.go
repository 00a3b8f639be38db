package main

import (
	"context"
	"fmt"

	"github.com/racledger/racledger/internal/seal"
)

const sealSynopsis = "rac seal [--database-url URL]"

// runSeal implements `rac seal`: seal the rows that became final since the
// last seal and print the head ("seal ID head HASH"), the hash to publish.
// With nothing new final it prints the existing head (or "no seals").
func runSeal(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "seal", sealSynopsis)
	dbURL := databaseFlag(fs, env)
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	pool, err := connect(ctx, *dbURL)
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	sealer, err := seal.New(pool, seal.Options{Logger: env.commandLogger()})
	if err != nil {
		return exitError, err
	}
	res, err := sealer.Seal(ctx)
	if err != nil {
		return exitError, err
	}
	switch {
	case res.Sealed:
		fmt.Fprintf(env.stderr, "sealed %d rows up to horizon %d\n", res.Rows, res.Seal.HorizonTo)
	case res.Head != nil:
		fmt.Fprintln(env.stderr, "nothing new is final; the head is unchanged")
	default:
		fmt.Fprintln(env.stderr, "nothing is final yet; no seals")
		return exitOK, nil
	}
	fmt.Fprintln(env.stdout, res.Head)
	return exitOK, nil
}
