package ledger

import (
	"context"
	"fmt"

	"github.com/racledger/racledger/db"
	shared "github.com/racledger/racledger/internal/catalog"
)

// actionKey is one (domain, action) pair of the catalog.
type actionKey struct {
	Domain Domain
	Action Action
}

func (k actionKey) String() string { return string(k.Domain) + "/" + string(k.Action) }

// catalog adapts the shared catalog cache (internal/catalog, also used
// by the reconciler) to the ledger's names and errors, so a write resolves
// names without a round trip. A miss reloads from the database through the
// caller's connection before refusing the name.
type catalog struct {
	c *shared.Cache
}

func newCatalog() *catalog { return &catalog{c: shared.New()} }

// actionIDs returns the id of every pair, in order. When a pair is not
// cached it reloads the catalog once through dbtx; a pair still unknown
// after that is refused with ErrUnknownAction.
func (c *catalog) actionIDs(ctx context.Context, dbtx db.DBTX, item string, keys []actionKey) ([]int16, error) {
	ck := make([]shared.Key, len(keys))
	for i, k := range keys {
		ck[i] = shared.Key{Domain: string(k.Domain), Action: string(k.Action)}
	}
	ids, missing, err := c.c.ActionIDs(ctx, dbtx, ck)
	if err != nil {
		return nil, fmt.Errorf("rac: %w", err)
	}
	if missing >= 0 {
		return nil, &InputError{Item: item, Index: missing, Field: "action", Err: ErrUnknownAction,
			Reason: fmt.Sprintf("%s is not in rac.contract_actions (register it first)", keys[missing])}
	}
	return ids, nil
}

// actionName returns the pair behind a cached id.
func (c *catalog) actionName(id int16) actionKey {
	k, _ := c.c.Name(id)
	return actionKey{Domain(k.Domain), Action(k.Action)}
}

// tenantID resolves a tenant name, reloading the tenants once on a miss.
func (c *catalog) tenantID(ctx context.Context, dbtx db.DBTX, name string) (int16, error) {
	id, ok, err := c.c.TenantID(ctx, dbtx, name)
	if err != nil {
		return 0, fmt.Errorf("rac: %w", err)
	}
	if !ok {
		return 0, &InputError{Item: "options", Index: -1, Field: "tenant", Err: ErrUnknownTenant,
			Reason: fmt.Sprintf("tenant %q is not in rac.tenants (register it first)", name)}
	}
	return id, nil
}
