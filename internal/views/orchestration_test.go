package views_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/ledger"
)

// The orchestration views (migration 00013) are the auditor's: a member of
// rac_auditor reads them for its tenants only, never the tables behind
// them; the timeline names each transition's author, spans their
// duration, exceptions the reconciler's finding.
func TestOrchestrationViews(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, ledger.RegisterTenant(b.ctx, b.pool, acme))
	on := true
	runs := map[string]uuid.UUID{}
	for _, tenant := range []string{defaultTenant, acme} {
		l := ledger.New(ledger.Options{Enabled: &on, Tenant: tenant})
		run := uuid.New()
		runs[tenant] = run
		require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(b.ctx, `SELECT set_config('rac.tenant', $1, true)`, tenant); err != nil {
				return err
			}
			if err := l.Expect(b.ctx, tx, run, ledger.StandardRun(time.Millisecond)...); err != nil {
				return err
			}
			for _, p := range []ledger.Phase{ledger.PhaseCreated, ledger.PhaseAuthorized, ledger.PhaseExecuting} {
				if err := l.Advance(b.ctx, tx, run, p, ""); err != nil {
					return err
				}
			}
			span, err := l.StartSpan(b.ctx, tx, ledger.Ack{RunID: run, Domain: ledger.Logs, Action: ledger.StartTrace, ResultID: "t"})
			if err != nil {
				return err
			}
			if err := span.Complete(b.ctx, tx, "t", nil); err != nil {
				return err
			}
			_, err = l.Checkpoint(b.ctx, tx, run, ledger.CheckpointOptions{Policy: ledger.FinalizeWithExceptions})
			return err
		}))
	}
	// Deadlines of 1 ms: once past, the reconciler finds the exceptions missing.
	require.Eventually(t, func() bool {
		var past bool
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT clock_timestamp() > max(deadline_at) FROM rac.expectations`).Scan(&past))
		return past
	}, 10*time.Second, 5*time.Millisecond)
	pass(t, b)

	views := map[string]int{ // rows per tenant
		"rac.run_timeline":          4,
		"rac.governance_outcomes":   1,
		"rac.governance_exceptions": 2, // incidents and policies were never acked
		"rac.governance_unseen":     0,
		"rac.spans":                 1,
	}
	countIn := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}, view, tenant string) int {
		var n int
		require.NoError(t, q.QueryRow(b.ctx, `SELECT count(*) FROM `+view+` WHERE tenant_id = $1`, tenant).Scan(&n), view)
		return n
	}
	for view, n := range views {
		for _, tenant := range []string{defaultTenant, acme} {
			require.Equal(t, n, countIn(b.pool, view, tenant), "%s, tenant %s, as the owner", view, tenant)
		}
	}

	auditor := loginAsAuditor(t, b, acme)
	for view, n := range views {
		require.Equal(t, n, countIn(auditor, view, acme), "%s: the pinned auditor sees its tenant", view)
		require.Zero(t, countIn(auditor, view, defaultTenant), "%s: and no other", view)
	}
	var open int
	require.NoError(t, auditor.QueryRow(b.ctx, `
		SELECT count(*) FROM rac.governance_exceptions WHERE finding_open AND finding_kind = 'missing'`).Scan(&open))
	require.Equal(t, 2, open, "each exception beside the reconciler's open finding")
	var dur time.Duration
	require.NoError(t, auditor.QueryRow(b.ctx, `SELECT duration FROM rac.spans`).Scan(&dur))
	require.GreaterOrEqual(t, dur, time.Duration(0))
	var author string
	require.NoError(t, auditor.QueryRow(b.ctx, `SELECT DISTINCT author FROM rac.run_timeline`).Scan(&author))
	require.NotEmpty(t, author)

	for _, table := range []string{"rac.run_phases", "rac.governance_checks"} {
		_, err := auditor.Exec(b.ctx, `SELECT 1 FROM `+table+` LIMIT 1`)
		var pe *pgconn.PgError
		require.True(t, errors.As(err, &pe), "%s: %v", table, err)
		require.Equal(t, "42501", pe.Code, table)
	}
}
