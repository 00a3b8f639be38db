package main

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

// checkLineRE matches one row of the demo's injected-vs-found table.
var checkLineRE = regexp.MustCompile(`(?m)^  (missing|failed|late|drift|stale|invalid|violated runs|clean runs)\s+(\d+)\s+(\d+)\s+(ok|DIFFERS)`)

func TestDemoFindsWhatItInjects(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	res := rac(context.Background(), nil, "demo", "--runs", "300", "--deadline", "1s", "--database-url", db.URL)
	require.Equal(t, exitOK, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	require.Contains(t, res.stdout, "result: OK")
	require.Contains(t, res.stderr, "writing runs: 300/300 runs")
	// The demo seals what it wrote and verifies the seal.
	require.Regexp(t, `sealed \d+ rows: seal 1 head [0-9a-f]{64} `, res.stdout)
	require.Contains(t, res.stdout, "verify: intact")

	rows := checkLineRE.FindAllStringSubmatch(res.stdout, -1)
	require.Len(t, rows, 8, res.stdout)
	for _, row := range rows {
		injected, err := strconv.Atoi(row[2])
		require.NoError(t, err)
		found, err := strconv.Atoi(row[3])
		require.NoError(t, err)
		require.Equal(t, injected, found, "%s", row[1])
		if row[1] != "clean runs" && row[1] != "violated runs" {
			require.Positive(t, injected, "every fault kind is injected: %s", row[1])
		}
	}
}
