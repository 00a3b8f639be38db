package orchestrator_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/examples/orchestrator"
	"github.com/racledger/racledger/internal/pgtest"
	"github.com/racledger/racledger/ledger"
	"github.com/racledger/racledger/reconciler"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The example end to end: ten runs, two of each fault, through a worker
// pool of three; each service its own login pinned to its domain.
func TestOrchestratorExample(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	admin, err := pgxpool.New(ctx, db.URL)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	require.NoError(t, orchestrator.Setup(ctx, admin))

	login := func(domainRows ...string) (*pgxpool.Pool, string) {
		u, role := pgtest.LoginRole(t, db, "rac_writer")
		for _, row := range domainRows {
			_, err := admin.Exec(ctx, `INSERT INTO rac.domain_roles (role_name, domain, privilege)
				VALUES ($1, nullif(split_part($2, ':', 1), '*'), split_part($2, ':', 2))`, role, row)
			require.NoError(t, err)
		}
		pool, err := pgxpool.New(ctx, u)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return pool, role
	}
	var p orchestrator.Pools
	var orchRole string
	p.Orchestrator, orchRole = login("orchestrator:ack", "*:expect")
	p.Incidents, _ = login("incidents:ack")
	p.Policies, _ = login("policies:ack")
	p.Logs, _ = login("logs:ack")

	const deadline = time.Second
	outcomes, err := orchestrator.Run(ctx, p, 10, 3, deadline)
	require.NoError(t, err)

	want := map[orchestrator.Fault][]string{
		orchestrator.NoFault:       {ledger.OutcomePassed},
		orchestrator.IncidentFails: {ledger.OutcomeRefused},
		orchestrator.PolicyPanics:  {ledger.OutcomeExcepted},
		orchestrator.TraceInFlight: {ledger.OutcomeRefused, ledger.OutcomePassed},
		orchestrator.IncidentLost:  {ledger.OutcomeRefused},
	}
	for _, o := range outcomes {
		require.Equal(t, want[o.Fault], o.Checks, "run %s (%s)", o.RunID, o.Fault)
		var phases int
		var authors []string
		require.NoError(t, admin.QueryRow(ctx, `SELECT count(*), array_agg(DISTINCT author) FROM rac.run_timeline WHERE run_id = $1`,
			o.RunID).Scan(&phases, &authors))
		require.Equal(t, []string{orchRole}, authors, "every transition authored by the orchestrator's login")
		if o.Phase == ledger.PhaseCompleted {
			require.Equal(t, 6, phases, "run %s went through every phase", o.RunID)
		} else {
			require.Equal(t, 3, phases, "run %s stays executing", o.RunID)
		}
	}

	// Wait out the deadlines (by the database clock), let every row become
	// final, and reconcile: the reconciler agrees with the checkpoint.
	require.Eventually(t, func() bool {
		var passed bool
		require.NoError(t, admin.QueryRow(ctx,
			`SELECT clock_timestamp() > max(deadline_at) FROM rac.expectations`).Scan(&passed))
		return passed
	}, 30*time.Second, 20*time.Millisecond)
	pgtest.WaitFinal(t, admin)
	rec, err := reconciler.New(admin, reconciler.Options{})
	require.NoError(t, err)
	_, err = rec.RunOnce(ctx)
	require.NoError(t, err)
	require.NoError(t, orchestrator.Verify(ctx, admin, outcomes))

	var exceptions, open int
	require.NoError(t, admin.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE finding_open) FROM rac.governance_exceptions`).Scan(&exceptions, &open))
	require.Equal(t, []int{2, 2}, []int{exceptions, open}, "each panicked policy: an exception the reconciler holds open")
}
