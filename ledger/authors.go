package ledger

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"weak"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// authorCache remembers, per database connection, the rac.authors id of
// the connection's login role, so the hot path's insert names its author
// instead of looking it up in every statement (a lookup per ack costs
// about 6% of a service's ack throughput; docs/performance.md).
//
// A connection's login role (session_user) is fixed for its lifetime
// (only a superuser's SET SESSION AUTHORIZATION changes it), and an author
// id, once committed, names its role for good: rac.authors is
// append-only. Only ids registered before the asking transaction began
// are cached, never one the transaction registered itself, which a
// rollback would take back. Row-level security still checks the author of
// every bound writer's row, so a wrong id could only be refused, never
// recorded. Entries go when their connection is garbage collected.
type authorCache struct {
	mu  sync.Mutex
	ids map[weak.Pointer[pgconn.PgConn]]sessionAuthor
}

// sessionAuthor is what the cache knows of a connection's login role.
type sessionAuthor struct {
	id int32
	// superuser: no domain mapping can pin the role, so its acks need no
	// domain guard.
	superuser bool
}

func newAuthorCache() *authorCache {
	return &authorCache{ids: make(map[weak.Pointer[pgconn.PgConn]]sessionAuthor)}
}

// connOf returns the connection dbtx runs on, or nil when it cannot tell
// (a pool hands each statement to any of its connections).
func connOf(dbtx DBTX) *pgconn.PgConn {
	switch c := dbtx.(type) {
	case interface{ Conn() *pgx.Conn }: // pgx.Tx, *pgxpool.Conn, *pgxpool.Tx
		if conn := c.Conn(); conn != nil {
			return conn.PgConn()
		}
	case *pgx.Conn:
		return c.PgConn()
	}
	return nil
}

// author returns the session's cached author on dbtx's connection,
// looking it up on the connection's first write. ok is false when the
// connection is unknown or its role has no committed author yet; the
// caller then lets the statement look the author up (and register it).
func (c *authorCache) author(ctx context.Context, dbtx DBTX) (a sessionAuthor, ok bool, err error) {
	pc := connOf(dbtx)
	if pc == nil {
		return sessionAuthor{}, false, nil
	}
	key := weak.Make(pc)
	c.mu.Lock()
	a, ok = c.ids[key]
	c.mu.Unlock()
	if ok {
		return a, true, nil
	}
	row, err := queries.SessionAuthor(ctx, dbtx)
	if errors.Is(err, pgx.ErrNoRows) {
		return sessionAuthor{}, false, nil
	}
	if err != nil {
		return sessionAuthor{}, false, fmt.Errorf("rac: look up the session's author: %w", err)
	}
	a = sessionAuthor{id: row.AuthorID, superuser: row.Superuser}
	c.mu.Lock()
	if _, raced := c.ids[key]; !raced {
		c.ids[key] = a
		runtime.AddCleanup(pc, c.forget, key)
	}
	c.mu.Unlock()
	return a, true, nil
}

// forget drops a collected connection's entry.
func (c *authorCache) forget(key weak.Pointer[pgconn.PgConn]) {
	c.mu.Lock()
	delete(c.ids, key)
	c.mu.Unlock()
}
