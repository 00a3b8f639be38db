package pglocal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pglocal"
)

// TestStandbyPromoteAfterCrash builds a primary and a hot standby, writes a
// row synchronously, crashes the primary and promotes the standby: the row
// is there and the promoted node accepts writes on a new timeline.
func TestStandbyPromoteAfterCrash(t *testing.T) {
	if _, err := pglocal.FindBinaries(); errors.Is(err, pglocal.ErrNotInstalled) {
		t.Skip("no PostgreSQL server binaries")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary := start(t, pglocal.Options{Settings: pglocal.PrimarySettings(), Logger: testLogger(t)})
	standby, err := pglocal.StartStandby(ctx, primary, pglocal.StandbyOptions{ApplicationName: "s1"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = standby.Stop(context.Background()) })

	sconn := connect(t, standby.ConnString("postgres"))
	var inRecovery bool
	require.NoError(t, sconn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery))
	require.True(t, inRecovery)

	require.NoError(t, primary.SetSynchronousStandbys(ctx, "s1"))
	pconn := connect(t, primary.ConnString("postgres"))
	require.Eventually(t, func() bool {
		var state string
		err := pconn.QueryRow(ctx, "SELECT coalesce((SELECT sync_state FROM pg_stat_replication WHERE application_name = 's1'), '')").Scan(&state)
		return err == nil && state == "sync"
	}, time.Minute, 10*time.Millisecond)
	_, err = pconn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
	require.NoError(t, err)

	require.NoError(t, primary.Crash())
	<-primary.Done()
	require.NoError(t, standby.Promote(ctx, time.Minute))
	var n, timeline int
	require.NoError(t, sconn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 1, n, "a synchronously committed row survives the crash")
	_, err = sconn.Exec(ctx, "INSERT INTO t VALUES (2)")
	require.NoError(t, err, "the promoted node accepts writes")
	require.NoError(t, sconn.QueryRow(ctx, "SELECT timeline_id FROM pg_control_checkpoint()").Scan(&timeline))
	t.Logf("timeline after promotion: %d", timeline)
}
