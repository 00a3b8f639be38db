package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got with testdata/golden/name (rewriting it with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cmd/rac -run TestGolden -update to create it")
	require.Equal(t, string(want), got, "golden file %s (go test ./cmd/rac -run TestGolden -update rewrites it)", path)
}

// Help goes to stdout with exit 0 and nothing on stderr, the same for
// `rac CMD --help`, `rac CMD -h`, `rac help CMD` and `rac CMD help`; an
// unknown flag is a usage error (exit 2) that names the flag, repeats the
// synopsis and says where the help is, on stderr only. None needs a
// database.
func TestGoldenHelpAndUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	top := rac(ctx, nil, "help")
	require.Equal(t, exitOK, top.code)
	require.Empty(t, top.stderr)
	golden(t, "help.txt", top.stdout)
	for _, args := range [][]string{{"--help"}, {"-h"}} {
		res := rac(ctx, nil, args...)
		require.Equal(t, exitOK, res.code, args)
		require.Equal(t, top.stdout, res.stdout, args)
	}
	none := rac(ctx, nil)
	require.Equal(t, exitUsage, none.code)
	require.Equal(t, top.stdout, none.stderr, "no command: the usage, on stderr")

	unknown := rac(ctx, nil, "frobnicate")
	require.Equal(t, exitUsage, unknown.code)
	require.Empty(t, unknown.stdout)
	golden(t, "unknown-command.txt", unknown.stderr)

	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			help := rac(ctx, nil, c.name, "--help")
			require.Equal(t, exitOK, help.code, help.stderr)
			require.Empty(t, help.stderr)
			require.Contains(t, help.stdout, "usage: "+c.synopsis)
			require.NotRegexp(t, `\n  -[a-z]`, help.stdout, "flags are spelled --name")
			golden(t, "help-"+c.name+".txt", help.stdout)
			for _, args := range [][]string{{"help", c.name}, {c.name, "-h"}, {c.name, "help"}} {
				res := rac(ctx, nil, args...)
				require.Equal(t, exitOK, res.code, "%v: %s", args, res.stderr)
				require.Equal(t, help.stdout, res.stdout, args)
			}

			bad := rac(ctx, nil, c.name, "--bogus")
			require.Equal(t, exitUsage, bad.code)
			require.Empty(t, bad.stdout)
			golden(t, "usage-"+c.name+".txt", bad.stderr)
		})
	}
}

// Global flags go before the command; flags and positionals in any order.
func TestArgumentOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A usage error reached after parsing shows the line was understood.
	for _, args := range [][]string{
		{"--log-level", "debug", "--quiet", "waive", "--reason", "x", "--actor", "y", "notanumber"},
		{"waive", "notanumber", "--reason", "x", "--actor", "y"},
		{"waive", "--reason", "x", "notanumber", "--actor", "y"},
	} {
		res := rac(ctx, nil, args...)
		require.Equal(t, exitUsage, res.code, "%v: %s", args, res.stderr)
		require.Contains(t, res.stderr, `finding id "notanumber" is not a positive integer`, args)
	}
	res := rac(ctx, nil, "--database-url", "postgres://u:pw@127.0.0.1:1/x", "--log-format", "json", "report", "--since", "2026-11-30")
	require.Equal(t, exitError, res.code, res.stderr)
	require.Contains(t, res.stderr, "connect to database")
	require.NotContains(t, res.stderr, "pw@")
	require.Equal(t, 1, countLines(res.stderr, "rac report:"), "the error is printed once: %s", res.stderr)

	res = rac(ctx, nil, "--bogus", "report")
	require.Equal(t, exitUsage, res.code)
	require.Contains(t, res.stderr, "--bogus")
}

func countLines(s, prefix string) int {
	n := 0
	for _, l := range splitLines(s) {
		if len(l) >= len(prefix) && l[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// Every flag taking a time reads the same syntax, with hints.
func TestTimeSyntax(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"2026-12-01T10:00:00Z", "2026-12-01T10:00:00.5+01:00", "2026-12-01", "24h", "90m", "7d", "now", "NOW"} {
		a, err := parseTimeArg("--since", ok)
		require.NoError(t, err, ok)
		require.True(t, a.set(), ok)
	}
	for s, hint := range map[string]string{
		"2026-12-01T10:00:00": "has no time zone: add Z for UTC (2026-12-01T10:00:00Z)",
		"2026-12-01 10:00":    "has no time zone",
		"yesterday":           "is not a time: want an RFC 3339 time",
		"-5m":                 "must be positive",
	} {
		_, err := parseTimeArg("--since", s)
		require.ErrorIs(t, err, errUsage, s)
		require.ErrorContains(t, err, hint, s)
	}
	for _, args := range [][]string{{"report", "--since", "2026-12-01T10:00:00"}, {"export", "--from", "2026-12-01T10:00:00", "--to", "now", "--out", t.TempDir()}} {
		res := rac(context.Background(), nil, args...)
		require.Equal(t, exitUsage, res.code, res.stderr)
		require.Contains(t, res.stderr, "add Z for UTC")
	}
}

// A command stopped by an interrupt exits 130 with words, not Go's
// "context canceled".
func TestInterruptExits130(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := rac(ctx, dbEnv("postgres://u@127.0.0.1:1/x"), "seal")
	require.Equal(t, exitInterrupted, res.code, res.stderr)
	require.Contains(t, res.stderr, "rac seal: interrupted")
	require.NotContains(t, res.stderr, "context canceled")
}
