package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/racledger/racledger/internal/migrate"
)

const migrateSynopsis = "rac migrate [up|down|status] [--destroy-evidence] [--database-url URL]"

// destroyEvidenceName is the flag that lets `rac migrate down` run over a
// ledger holding rows or seals.
const destroyEvidenceName = "destroy-evidence"

func destroyEvidenceFlag(fs *flag.FlagSet) *bool {
	return fs.Bool(destroyEvidenceName, false,
		"let down reverse a migration although the ledger holds rows or seals (they may be dropped for good)")
}

// runMigrate implements `rac migrate [up|down|status]`.
func runMigrate(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "migrate", migrateSynopsis)
	dbURL := databaseFlag(fs, env)
	destroy := destroyEvidenceFlag(fs)
	// Accept the verb before or after the flags.
	verb := "up"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		verb, args = args[0], args[1:]
	}
	if verb == "up" {
		if v, ok := verbAfterFlags(env, args); ok {
			verb, args = v, args[:len(args)-1]
		}
	}
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	switch verb {
	case "up", "down", "status":
	default:
		return exitUsage, fmt.Errorf("%w: unknown verb %q (want up, down or status)", errUsage, verb)
	}

	pool, err := connect(ctx, *dbURL)
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	m, err := migrate.New(pool, env.logger)
	if err != nil {
		return exitError, err
	}
	defer m.Close()

	switch verb {
	case "up":
		n, err := m.Up(ctx)
		if err != nil {
			return exitError, err
		}
		fmt.Fprintf(env.stdout, "migrate up: applied %d migration(s)\n", n)
	case "down":
		if !*destroy {
			held, err := migrate.Evidence(ctx, pool)
			if err != nil {
				return exitError, err
			}
			if len(held) > 0 {
				return exitError, fmt.Errorf("refusing to reverse a migration: the ledger holds evidence (rows in %s) "+
					"that a down migration may drop for good; pass --%s to reverse it anyway",
					strings.Join(held, ", "), destroyEvidenceName)
			}
		}
		did, err := m.Down(ctx)
		if err != nil {
			return exitError, err
		}
		if did {
			fmt.Fprintln(env.stdout, "migrate down: reversed 1 migration")
		} else {
			fmt.Fprintln(env.stdout, "migrate down: nothing to reverse")
		}
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return exitError, err
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied"
			}
			fmt.Fprintf(env.stdout, "%05d  %-8s %s\n", s.Version, state, s.Name)
		}
	}
	return exitOK, nil
}

// verbAfterFlags reports the verb of `rac migrate [flags] verb`: the one
// argument left once migrate's flags parse cleanly, which is then the last
// argument. It parses silently; the real parse reports errors and -h.
func verbAfterFlags(env *environment, args []string) (string, bool) {
	probe := flag.NewFlagSet("migrate", flag.ContinueOnError)
	probe.SetOutput(io.Discard)
	probe.Usage = func() {}
	databaseFlag(probe, env)
	destroyEvidenceFlag(probe)
	if probe.Parse(args) != nil || probe.NArg() != 1 {
		return "", false
	}
	return probe.Arg(0), true
}
