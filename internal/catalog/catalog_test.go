package catalog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/catalog"
	"github.com/racledger/racledger/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestCacheResolvesAndReloadsOnMiss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	c := catalog.New()

	finalize := catalog.Key{Domain: "orchestrator", Action: "finalize_run"}
	id, ok, err := c.ActionID(ctx, pool, finalize)
	require.NoError(t, err)
	require.True(t, ok, "a seeded action resolves")
	name, ok := c.Name(id)
	require.True(t, ok)
	require.Equal(t, finalize, name)

	_, ok, err = c.ActionID(ctx, pool, catalog.Key{Domain: "billing", Action: "charge"})
	require.NoError(t, err)
	require.False(t, ok, "an unregistered action is unknown")

	// Registered after the cache filled: the miss reloads.
	var newID int16
	require.NoError(t, pool.QueryRow(ctx,
		`INSERT INTO rac.contract_actions (domain, action, description) VALUES ('billing', 'charge', 'test') RETURNING id`).Scan(&newID))
	ids, missing, err := c.ActionIDs(ctx, pool, []catalog.Key{finalize, {Domain: "billing", Action: "charge"}})
	require.NoError(t, err)
	require.Equal(t, -1, missing)
	require.Equal(t, []int16{id, newID}, ids)

	k, ok, err := c.Action(ctx, pool, 32000)
	require.NoError(t, err)
	require.False(t, ok, "an id never issued is unknown: %v", k)

	tid, ok, err := c.TenantID(ctx, pool, "default")
	require.NoError(t, err)
	require.True(t, ok)
	require.NotZero(t, tid)
	_, ok, err = c.TenantID(ctx, pool, "nobody")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestCacheUsesTheCallersContext(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := catalog.New().ActionID(ctx, pool, catalog.Key{Domain: "orchestrator", Action: "finalize_run"})
	require.ErrorIs(t, err, context.Canceled)
}
