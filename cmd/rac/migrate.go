package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/racledger/racledger/internal/migrate"
)

// runMigrate implements `rac migrate [up|down|status]`.
func runMigrate(ctx context.Context, env *environment, args []string) (int, error) {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	dbURL := databaseFlag(fs, env)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: rac migrate [up|down|status] [--database-url URL]")
		fs.PrintDefaults()
	}
	// Accept the verb before or after the flags.
	verb := "up"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		verb, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		if fs.NArg() == 1 && verb == "up" {
			verb = fs.Arg(0)
		} else {
			return exitUsage, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
		}
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
