package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
)

// TestProgressLines: seal, verify and verify-export print progress lines
// on stderr (every report, with the interval forced to 0), never on
// stdout, whose JSON stays clean; --quiet suppresses them. Not parallel:
// it sets progressEvery, which the other tests leave at its default.
func TestProgressLines(t *testing.T) {
	every := progressEvery
	progressEvery = 0
	t.Cleanup(func() { progressEvery = every })
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	env := dbEnv(db.URL)
	l := newLedger()
	for range 5 {
		run := uuid.New()
		require.NoError(t, l.Expect(ctx, pool, run, ledger.StandardRun(60_000_000_000)...))
		require.NoError(t, l.Ack(ctx, pool, ledger.Ack{RunID: run, Domain: ledger.Incidents, Action: ledger.CreateIncident, ResultID: "inc"}))
	}
	settle(t, pool)

	line := func(command, of string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + command + `: [a-z_]+ \d+` + of + ` rows, seal 1 \(\d+ rows/s\)$`)
	}
	res := rac(ctx, env, "seal", "--format", "json")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, line("seal", ""), res.stderr)
	requireJSON(t, res.stdout)
	require.Contains(t, lastLine(res.stderr), "seal: acks 30 rows, seal 1", "the last report counts every row")

	res = rac(ctx, env, "verify", "--format", "json")
	require.Equal(t, exitOK, res.code, res.stderr+res.stdout)
	require.Regexp(t, line("verify", " of 30"), res.stderr)
	require.Contains(t, lastLine(res.stderr), "verify: acks 30 of 30 rows, seal 1")
	requireJSON(t, res.stdout)

	dir := filepath.Join(t.TempDir(), "export")
	res = rac(ctx, env, "export", "--seals", "1", "--out", dir)
	require.Equal(t, exitOK, res.code, res.stderr)
	res = rac(ctx, env, "verify-export", dir, "--format", "json")
	require.Equal(t, exitOK, res.code, res.stderr+res.stdout)
	require.Regexp(t, `(?m)^verify-export: acks\.csv \d+ rows, \d+ bytes in `, res.stderr)
	requireJSON(t, res.stdout)

	for _, args := range [][]string{{"seal"}, {"verify"}, {"verify-export", dir}} {
		res := rac(ctx, env, append([]string{"--quiet"}, args...)...)
		require.Equal(t, exitOK, res.code, "%v: %s%s", args, res.stderr, res.stdout)
		require.NotContains(t, res.stderr, "rows", "%v: --quiet prints no progress", args)
		res = rac(ctx, env, append(args, "--quiet", "--format", "json")...)
		require.Equal(t, exitOK, res.code, "%v: %s%s", args, res.stderr, res.stdout)
		require.Empty(t, res.stderr, args)
		requireJSON(t, res.stdout)
	}
}

// requireJSON checks that s is one JSON document and nothing else.
func requireJSON(t *testing.T, s string) {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &v), s)
}

// lastLine returns the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
