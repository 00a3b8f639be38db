// Package catalog is the one in-memory cache of the ledger's catalog: the
// small-integer ids of rac.contract_actions and rac.tenants. The ledger
// package resolves names to ids through it before every write, and the
// reconciler resolves ids back to names and looks up its tenant and the
// finalize action through it.
//
// Catalog rows are never deleted or renumbered (the tables are
// append-only), so a cached entry stays right for the life of the process;
// a miss reloads from the database, on the caller's context and
// connection, before the name or id is reported unknown.
package catalog

import (
	"context"
	"fmt"
	"sync"

	"github.com/racledger/racledger/db"
)

var queries = db.New()

// Key is one (domain, action) pair of rac.contract_actions.
type Key struct {
	Domain string
	Action string
}

// String returns "domain/action".
func (k Key) String() string { return k.Domain + "/" + k.Action }

// Cache holds the catalog of one database. It is safe for concurrent use.
// The zero value is not usable; call New.
type Cache struct {
	mu      sync.RWMutex
	actions map[Key]int16
	names   map[int16]Key
	tenants map[string]int16
}

// New returns an empty cache; it fills on first use.
func New() *Cache {
	return &Cache{
		actions: map[Key]int16{},
		names:   map[int16]Key{},
		tenants: map[string]int16{},
	}
}

// ActionIDs returns the id of every key, in order. When a key is not
// cached it reloads the actions once through dbtx. missing is the index of
// the first key still unknown after that (ids is then nil), or -1.
func (c *Cache) ActionIDs(ctx context.Context, dbtx db.DBTX, keys []Key) (ids []int16, missing int, err error) {
	if ids, missing = c.lookup(keys); missing < 0 {
		return ids, -1, nil
	}
	if err := c.ReloadActions(ctx, dbtx); err != nil {
		return nil, 0, err
	}
	ids, missing = c.lookup(keys)
	return ids, missing, nil
}

// ActionID returns the id of one key, reloading once on a miss; ok is
// false when the key is not in the catalog.
func (c *Cache) ActionID(ctx context.Context, dbtx db.DBTX, key Key) (id int16, ok bool, err error) {
	ids, missing, err := c.ActionIDs(ctx, dbtx, []Key{key})
	if err != nil || missing >= 0 {
		return 0, false, err
	}
	return ids[0], true, nil
}

// Action returns the key behind id, reloading once when id is not cached;
// ok is false when the id is not in the catalog.
func (c *Cache) Action(ctx context.Context, dbtx db.DBTX, id int16) (key Key, ok bool, err error) {
	if key, ok = c.Name(id); ok {
		return key, true, nil
	}
	if err := c.ReloadActions(ctx, dbtx); err != nil {
		return Key{}, false, err
	}
	key, ok = c.Name(id)
	return key, ok, nil
}

// Name returns the cached key behind id without a round trip; ok is false
// when id is not cached.
func (c *Cache) Name(id int16) (Key, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.names[id]
	return k, ok
}

// lookup resolves keys from the cache; missing is the index of the first
// unknown key, or -1.
func (c *Cache) lookup(keys []Key) (ids []int16, missing int) {
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

// ReloadActions reads rac.contract_actions through dbtx into the cache.
func (c *Cache) ReloadActions(ctx context.Context, dbtx db.DBTX) error {
	rows, err := queries.ContractActionsList(ctx, dbtx)
	if err != nil {
		return fmt.Errorf("load action catalog: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rows {
		k := Key{Domain: r.Domain, Action: r.Action}
		c.actions[k] = r.ID
		c.names[r.ID] = k
	}
	return nil
}

// TenantID resolves a tenant name, reloading the tenants once through dbtx
// on a miss; ok is false when the tenant is not in rac.tenants.
func (c *Cache) TenantID(ctx context.Context, dbtx db.DBTX, name string) (id int16, ok bool, err error) {
	c.mu.RLock()
	id, ok = c.tenants[name]
	c.mu.RUnlock()
	if ok {
		return id, true, nil
	}
	rows, err := queries.TenantsList(ctx, dbtx)
	if err != nil {
		return 0, false, fmt.Errorf("load tenants: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rows {
		c.tenants[r.Name] = r.ID
	}
	id, ok = c.tenants[name]
	return id, ok, nil
}
