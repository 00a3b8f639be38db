package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/racledger/racledger/internal/migrate"
)

const migrateSynopsis = "rac migrate [up|down|status] [--destroy-evidence] [--format text|json] [--database-url URL]"

// destroyEvidenceName is the flag that lets `rac migrate down` run over a
// ledger holding rows or seals.
const destroyEvidenceName = "destroy-evidence"

func destroyEvidenceFlag(fs *flag.FlagSet) *bool {
	return fs.Bool(destroyEvidenceName, false,
		"let down reverse a migration although the ledger holds rows or seals (they may be dropped for good)")
}

// migrateResult is the JSON output of rac migrate: Applied for up,
// Reversed for down, Migrations for status.
type migrateResult struct {
	Verb       string          `json:"verb"`
	Applied    int             `json:"applied"`
	Reversed   int             `json:"reversed"`
	Migrations []migrationJSON `json:"migrations,omitempty"`
}

// migrationJSON is one migration in `rac migrate status --format json`.
type migrationJSON struct {
	Version   int64      `json:"version"`
	Name      string     `json:"name"`
	Applied   bool       `json:"applied"`
	AppliedAt *time.Time `json:"applied_at"`
}

// runMigrate implements `rac migrate [up|down|status]`.
func runMigrate(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "migrate", migrateSynopsis)
	dbURL := databaseFlag(fs, env)
	destroy := destroyEvidenceFlag(fs)
	format := formatFlag(fs)
	verb, err := parsePositional(fs, args)
	if err != nil {
		return parseError(err)
	}
	if err := checkFormat(*format); err != nil {
		return exitUsage, err
	}
	verb = cmp.Or(verb, "up")
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
	if verb != "status" {
		if err := requirePrimary(ctx, pool, "rac migrate "+verb); err != nil {
			return exitError, err
		}
	}
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
		if *format == formatJSON {
			return exitOK, writeJSON(env.stdout, migrateResult{Verb: verb, Applied: n})
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
		if *format == formatJSON {
			n := 0
			if did {
				n = 1
			}
			return exitOK, writeJSON(env.stdout, migrateResult{Verb: verb, Reversed: n})
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
		if *format == formatJSON {
			out := migrateResult{Verb: verb, Migrations: []migrationJSON{}}
			for _, s := range st {
				m := migrationJSON{Version: s.Version, Name: s.Name, Applied: s.Applied}
				if s.Applied && !s.AppliedAt.IsZero() {
					at := s.AppliedAt.UTC()
					m.AppliedAt = &at
				}
				out.Migrations = append(out.Migrations, m)
			}
			return exitOK, writeJSON(env.stdout, out)
		}
		for _, s := range st {
			state, at := "pending", "-"
			if s.Applied {
				state = "applied"
				if !s.AppliedAt.IsZero() {
					at = formatTime(s.AppliedAt)
				}
			}
			fmt.Fprintf(env.stdout, "%05d  %-8s %-24s %s\n", s.Version, state, at, s.Name)
		}
	}
	return exitOK, nil
}
