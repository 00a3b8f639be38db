package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

// reportJSON runs `rac report --format json args...` and decodes it.
func reportJSON(t *testing.T, url string, args ...string) (report, result) {
	t.Helper()
	res := rac(context.Background(), dbEnv(url), append([]string{"report", "--format", "json"}, args...)...)
	var rep report
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rep), "stdout: %s\nstderr: %s", res.stdout, res.stderr)
	return rep, res
}

func TestReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := newPool(t, db.URL)
	clean := writeCleanRun(t, pool)
	drift := writeDriftAck(t, pool)
	settle(t, pool)
	require.Equal(t, exitViolated, rac(ctx, dbEnv(db.URL), "reconcile", "--once").code)

	t.Run("json lists the open finding and exits 3", func(t *testing.T) {
		rep, res := reportJSON(t, db.URL)
		require.Equal(t, exitViolated, res.code, res.stderr)
		require.Len(t, rep.OpenFindings, 1)
		f := rep.OpenFindings[0]
		require.Equal(t, drift, f.RunID)
		require.Equal(t, "default", f.Tenant)
		require.Equal(t, "incidents", f.Domain)
		require.Equal(t, "create_incident", f.Action)
		require.Equal(t, "drift", f.Kind)
		require.False(t, f.DetectedAt.IsZero())
		require.Equal(t, map[string]int{"drift": 1}, rep.OpenByKind)
		require.Equal(t, map[string]int{"clean": 1, "pending": 0, "violated": 1}, rep.Verdicts)
		require.Nil(t, rep.Run)
	})

	t.Run("the table names the finding", func(t *testing.T) {
		res := rac(ctx, dbEnv(db.URL), "report")
		require.Equal(t, exitViolated, res.code, res.stderr)
		require.Contains(t, res.stdout, drift.String())
		require.Contains(t, res.stdout, "incidents/create_incident")
		require.Contains(t, res.stdout, "runs by verdict: 1 clean, 0 pending, 1 violated")
	})

	t.Run("an unknown run has no findings and exits 0", func(t *testing.T) {
		rep, res := reportJSON(t, db.URL, "--run", uuid.NewString())
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Empty(t, rep.OpenFindings)
		require.NotNil(t, rep.Run)
		require.Empty(t, rep.Run.Verdicts)
		require.Equal(t, map[string]int{"clean": 0, "pending": 0, "violated": 0}, rep.Verdicts)
	})

	t.Run("a selected run shows its verdict", func(t *testing.T) {
		rep, res := reportJSON(t, db.URL, "--run", drift.String())
		require.Equal(t, exitViolated, res.code, res.stderr)
		require.Len(t, rep.Run.Verdicts, 1)
		require.Equal(t, "violated", rep.Run.Verdicts[0].Verdict)
		require.Equal(t, map[string]int{"clean": 0, "pending": 0, "violated": 1}, rep.Verdicts)

		rep, res = reportJSON(t, db.URL, "--run", clean.String())
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Len(t, rep.Run.Verdicts, 1)
		require.Equal(t, "clean", rep.Run.Verdicts[0].Verdict)
		require.Equal(t, map[string]int{"clean": 1, "pending": 0, "violated": 0}, rep.Verdicts)
	})

	t.Run("since and tenant filter the findings", func(t *testing.T) {
		_, res := reportJSON(t, db.URL, "--since", "1h")
		require.Equal(t, exitViolated, res.code, res.stderr)
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		rep, res := reportJSON(t, db.URL, "--since", future)
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Empty(t, rep.OpenFindings)
		rep, res = reportJSON(t, db.URL, "--tenant", "nobody")
		require.Equal(t, exitOK, res.code, res.stderr)
		require.Empty(t, rep.OpenFindings)
	})

	t.Run("report writes nothing", func(t *testing.T) {
		var before, after int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rac.reconciliations`).Scan(&before))
		rac(ctx, dbEnv(db.URL), "report", "--run", drift.String())
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM rac.reconciliations`).Scan(&after))
		require.Equal(t, before, after)
	})
}
