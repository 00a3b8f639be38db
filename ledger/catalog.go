package ledger

import (
	"context"
	"fmt"
	"sync"

	"github.com/racledger/racledger/db"
)

// actionKey is one (domain, action) pair of the catalog.
type actionKey struct {
	Domain Domain
	Action Action
}

func (k actionKey) String() string { return string(k.Domain) + "/" + string(k.Action) }

// catalog caches the small-integer ids of the action catalog and of the
// tenants, so a write resolves names without a round trip. Entries are never
// removed from the database (the tables are append-only), so a cached id
// stays right; a miss reloads from the database before refusing the name.
type catalog struct {
	mu      sync.RWMutex
	actions map[actionKey]int16
	names   map[int16]actionKey
	tenants map[string]int16
}

func newCatalog() *catalog {
	return &catalog{
		actions: map[actionKey]int16{},
		names:   map[int16]actionKey{},
		tenants: map[string]int16{},
	}
}

// actionIDs returns the id of every pair, in order. When a pair is not
// cached it reloads the catalog once through q; a pair still unknown after
// that is refused with ErrUnknownAction.
func (c *catalog) actionIDs(ctx context.Context, dbtx db.DBTX, item string, keys []actionKey) ([]int16, error) {
	ids, missing := c.lookupActions(keys)
	if missing < 0 {
		return ids, nil
	}
	if err := c.reloadActions(ctx, dbtx); err != nil {
		return nil, err
	}
	ids, missing = c.lookupActions(keys)
	if missing >= 0 {
		return nil, &InputError{Item: item, Index: missing, Field: "action", Err: ErrUnknownAction,
			Reason: fmt.Sprintf("%s is not in rac.contract_actions (register it first)", keys[missing])}
	}
	return ids, nil
}

// lookupActions resolves keys from the cache; missing is the index of the
// first unknown key, or -1.
func (c *catalog) lookupActions(keys []actionKey) (ids []int16, missing int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ids = make([]int16, len(keys))
	for i, k := range keys {
		id, ok := c.actions[k]
		if !ok {
			return nil, i
		}
		ids[i] = id
	}
	return ids, -1
}

// actionName returns the pair behind a cached id.
func (c *catalog) actionName(id int16) actionKey {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.names[id]
}

func (c *catalog) reloadActions(ctx context.Context, dbtx db.DBTX) error {
	rows, err := queries.ContractActionsList(ctx, dbtx)
	if err != nil {
		return fmt.Errorf("rac: load action catalog: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rows {
		k := actionKey{Domain(r.Domain), Action(r.Action)}
		c.actions[k] = r.ID
		c.names[r.ID] = k
	}
	return nil
}

// tenantID resolves a tenant name, reloading the tenants once on a miss.
func (c *catalog) tenantID(ctx context.Context, dbtx db.DBTX, name string) (int16, error) {
	c.mu.RLock()
	id, ok := c.tenants[name]
	c.mu.RUnlock()
	if ok {
		return id, nil
	}
	rows, err := queries.TenantsList(ctx, dbtx)
	if err != nil {
		return 0, fmt.Errorf("rac: load tenants: %w", err)
	}
	c.mu.Lock()
	for _, r := range rows {
		c.tenants[r.Name] = r.ID
	}
	id, ok = c.tenants[name]
	c.mu.Unlock()
	if !ok {
		return 0, &InputError{Item: "options", Index: -1, Field: "tenant", Err: ErrUnknownTenant,
			Reason: fmt.Sprintf("tenant %q is not in rac.tenants (register it first)", name)}
	}
	return id, nil
}
