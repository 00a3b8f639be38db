package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/racledger/racledger/internal/export"
	"github.com/racledger/racledger/internal/seal"
)

const exportSynopsis = "rac export (--from TIME --to TIME | --seals A..B) --out DIR [--format csv|jsonl|parquet] [--tenant NAME] [--sign-key FILE] [--force] [--wait DURATION] [--database-url URL]"

// runExport implements `rac export`: the ledger rows created in [--from,
// --to), or those of seals A..B, one file per table, read in one snapshot,
// with manifest.json (which lists the seals covering the rows) and an
// optional signature. Exit 0 written, 1 error (nothing but partial files
// removed, no manifest), 2 usage (including unknown seals).
func runExport(ctx context.Context, env *environment, args []string) (int, error) {
	fs := newFlagSet(env, "export", exportSynopsis)
	dbURL := databaseFlag(fs, env)
	from := fs.String("from", "", "start of the range, inclusive, a `TIME`: "+timeSyntax+"; required")
	to := fs.String("to", "", "end of the range, exclusive, a `TIME` not after the database clock (now is the latest); required")
	seals := fs.String("seals", "", "instead of --from/--to: the rows of seals A..B (ids, both included; A alone for one seal)")
	out := fs.String("out", "", "output directory, created if missing; must be empty unless --force (required)")
	format := fs.String("format", "csv", "file format: csv, jsonl or parquet")
	tenant := fs.String("tenant", "", "only this tenant's rows (rac.reconciliations, which is ledger-wide, is then omitted)")
	signKey := fs.String("sign-key", "", "sign manifest.json with this ed25519 private `FILE` (PREFIX.key from rac keygen)")
	force := fs.Bool("force", false, "replace a previous export in --out")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for transactions that may still write into the range")
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	switch {
	case *seals != "" && (*from != "" || *to != ""):
		return exitUsage, fmt.Errorf("%w: --seals and --from/--to are mutually exclusive: %s", errUsage, exportSynopsis)
	case *seals == "" && (*from == "" || *to == ""):
		return exitUsage, fmt.Errorf("%w: --from and --to (or --seals) are required: %s", errUsage, exportSynopsis)
	case *out == "":
		return exitUsage, fmt.Errorf("%w: --out is required: %s", errUsage, exportSynopsis)
	}
	opts := export.Options{
		Dir: *out, Tenant: *tenant, Force: *force, Wait: *wait,
		ToolVersion: toolVersion(), Progress: env.progress(), ProgressEvery: progressEvery, Logger: env.logger,
	}
	fromArg, toArg, err := parseExportOptions(&opts, *seals, *from, *to, *format, *signKey)
	if err != nil {
		return exportExit(err)
	}

	pool, err := connect(ctx, *dbURL)
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	if opts.Seals != nil {
		// Seals cover every tenant's rows: a login that sees some tenants
		// is refused before anything is written.
		if err := seal.RequireWholeLedger(ctx, pool); err != nil {
			return exitError, fmt.Errorf("export --seals: %w", err)
		}
	}
	if opts.Seals == nil {
		// A standby cannot see the primary's open transactions, so it
		// cannot wait for those that may still write into the range: an
		// export there could miss rows a re-export later holds.
		rec, err := inRecovery(ctx, pool)
		if err != nil {
			return exitError, err
		}
		if rec {
			return exitUsage, fmt.Errorf("%w: connected to a standby, which cannot see the primary's open transactions "+
				"and so cannot tell when the range [--from, --to) is closed: a time-range export here could miss rows "+
				"a re-export would hold; export sealed rows with --seals A..B (always final, so reproducible here), "+
				"or run the time-range export on the primary", errUsage)
		}
	}
	if fromArg.relative() || toArg.relative() {
		// Relative times count back from the database's clock.
		var now time.Time
		if err := pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
			return exitError, fmt.Errorf("read database clock: %w", err)
		}
		opts.From, opts.To = fromArg.resolve(now), toArg.resolve(now)
		if err := opts.Validate(); err != nil {
			return exportExit(err)
		}
	}
	m, err := export.Export(ctx, pool, opts)
	if err != nil {
		return exportExit(err)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "file\trows\tbytes\tsha256\n")
	var rows int64
	for _, f := range m.Files {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", f.Name, f.Rows, f.Bytes, f.SHA256)
		rows += f.Rows
	}
	_ = tw.Flush()
	signed := ""
	if opts.SignKey != nil {
		signed = ", signed"
	}
	fmt.Fprintf(env.stdout, "%s\n", sealSummary(m))
	fmt.Fprintf(env.stdout, "exported %d rows in %d files to %s (%s%s)\n", rows, len(m.Files), *out, m.Format, signed)
	return exitOK, nil
}

// parseExportOptions reads the range, format and signing key flags into
// opts and validates the result, before any connection. A relative
// --from or --to (a duration, now) is returned for resolving against the
// database clock, and validation of the range waits for it.
func parseExportOptions(opts *export.Options, seals, from, to, format, signKey string) (fromArg, toArg timeArg, err error) {
	if seals != "" {
		r, err := export.ParseSealRange(seals)
		if err != nil {
			return fromArg, toArg, fmt.Errorf("--seals: %w", err)
		}
		opts.Seals = &r
	} else {
		if fromArg, err = parseTimeArg("--from", from); err != nil {
			return fromArg, toArg, err
		}
		if toArg, err = parseTimeArg("--to", to); err != nil {
			return fromArg, toArg, err
		}
		opts.From, opts.To = fromArg.resolve(time.Now()), toArg.resolve(time.Now())
	}
	if opts.Format, err = export.ParseFormat(format); err != nil {
		return fromArg, toArg, fmt.Errorf("--format: %w", err)
	}
	if signKey != "" {
		if opts.SignKey, err = export.LoadPrivateKey(signKey); err != nil {
			return fromArg, toArg, fmt.Errorf("%w: --sign-key: %v", errUsage, err)
		}
	}
	if fromArg.relative() || toArg.relative() {
		return fromArg, toArg, nil
	}
	return fromArg, toArg, opts.Validate()
}

// exportExit maps an export error to the command's exit: 2 for the
// caller's input (errUsage, export.ErrInvalid), 1 for anything else.
func exportExit(err error) (int, error) {
	switch {
	case errors.Is(err, export.ErrRangeNotEnded):
		return exitError, fmt.Errorf("%w; give an earlier --to (now is the latest), or wait until the range has ended", err)
	case errors.Is(err, errUsage):
		return exitUsage, err
	case errors.Is(err, export.ErrInvalid):
		return exitUsage, fmt.Errorf("%w: %v", errUsage, err)
	}
	return exitError, err
}

// sealSummary says in one line which seals the manifest lists, e.g.
// "seals: 1..3 listed, 3 complete; head seal 3 3f2a...; 0 rows unsealed".
func sealSummary(m *export.Manifest) string {
	if m.SealHead == nil {
		return fmt.Sprintf("seals: none in the ledger; %d rows unsealed", m.UnsealedRows)
	}
	listed := "no seal listed"
	if n := len(m.Seals); n > 0 {
		complete := 0
		for _, s := range m.Seals {
			if s.Complete {
				complete++
			}
		}
		listed = fmt.Sprintf("%d listed (%d..%d), %d complete", n, m.Seals[0].ID, m.Seals[n-1].ID, complete)
	}
	return fmt.Sprintf("seals: %s; head seal %d %s; %d rows unsealed", listed, m.SealHead.ID, m.SealHead.SealHash, m.UnsealedRows)
}
