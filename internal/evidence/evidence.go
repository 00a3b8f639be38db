// Package evidence decides where rac verify, rac prove and rac export read
// the ledger's evidence, and reads the seal chain and the schema version
// there.
//
// Operators (superusers, the schema owner, rac_reconciler) read the ledger
// tables, as they always did. A login that may read none of them but is
// granted the views of migration 00014 (rac_auditor) reads those views:
// rac.audit_<stem> with every table's canonical columns (see
// canon.FromViews), rac.audit_tenants, rac.audit_seals and
// rac.audit_seal_chunks. Both sources give the same values, so the same
// leaf bytes: a seal verifies from either or from neither.
package evidence

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/racledger/racledger/db"
	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/migrate"
)

// baseTables are the tables read from canon.FromTables besides the ledger
// tables themselves.
var baseTables = []string{"rac.tenants", "rac.contract_actions", "rac.authors", "rac.seals", "rac.seal_chunks"}

// auditViews are the views read from canon.FromViews besides the ledger
// tables' own views.
var auditViews = []string{"rac.audit_tenants", "rac.audit_seals", "rac.audit_seal_chunks"}

// detectSQL says whether the session may read every relation of $1 (tables,
// which exist) and every relation of $2 (views, which exist once migration
// 00014 is applied).
const detectSQL = `
SELECT (SELECT bool_and(has_table_privilege(r, 'SELECT')) FROM unnest($1::text[]) r),
       (SELECT bool_and(coalesce(has_table_privilege(to_regclass(r), 'SELECT'), false)) FROM unnest($2::text[]) r)`

// Detect returns where this session reads the evidence: the ledger tables
// when it may read every one of them (and their catalogs and the seals),
// else the audit views when it may read every one of those; else the
// tables, so the error says which one it was refused.
func Detect(ctx context.Context, q db.DBTX) (canon.Source, error) {
	tables := append([]string(nil), baseTables...)
	views := append([]string(nil), auditViews...)
	for i := range canon.Tables {
		tables = append(tables, canon.Tables[i].Name)
		views = append(views, canon.Tables[i].View())
	}
	var tablesOK, viewsOK bool
	if err := q.QueryRow(ctx, detectSQL, tables, views).Scan(&tablesOK, &viewsOK); err != nil {
		return canon.FromTables, fmt.Errorf("check which ledger relations this login may read: %w", err)
	}
	if !tablesOK && viewsOK {
		return canon.FromViews, nil
	}
	return canon.FromTables, nil
}

// SealsRelation returns the relation src reads the seal chain from.
func SealsRelation(src canon.Source) string {
	if src == canon.FromViews {
		return "rac.audit_seals"
	}
	return "rac.seals"
}

// ChunksRelation returns the relation src reads the seals' locating hints
// from.
func ChunksRelation(src canon.Source) string {
	if src == canon.FromViews {
		return "rac.audit_seal_chunks"
	}
	return "rac.seal_chunks"
}

// TenantsRelation returns the relation src reads tenant names from (a
// column name); from the views, only the session's own tenants are there.
func TenantsRelation(src canon.Source) string {
	if src == canon.FromViews {
		return "rac.audit_tenants"
	}
	return "rac.tenants"
}

// sealColumns are the columns of rac.seals and rac.audit_seals, in the
// order of db.RacSeal's fields (sealRow scans them).
const sealColumns = "id, version, horizon_from, horizon_to, row_counts, merkle_root, prev_hash, seal_hash, sealed_at"

// The seal chain is read with the same statements from either source:
// rac.audit_seals shows every column of every row of rac.seals.

// SealHead returns the latest seal; pgx.ErrNoRows when there is none.
func SealHead(ctx context.Context, q db.DBTX, src canon.Source) (db.RacSeal, error) {
	return sealRow(q.QueryRow(ctx, "SELECT "+sealColumns+" FROM "+SealsRelation(src)+" ORDER BY id DESC LIMIT 1"))
}

// SealNext returns the first seal after id after; pgx.ErrNoRows when there
// is none.
func SealNext(ctx context.Context, q db.DBTX, src canon.Source, after int64) (db.RacSeal, error) {
	return sealRow(q.QueryRow(ctx, "SELECT "+sealColumns+" FROM "+SealsRelation(src)+" WHERE id > $1 ORDER BY id LIMIT 1", after))
}

// SealCovering returns the seal whose window holds txID; pgx.ErrNoRows
// when none does.
func SealCovering(ctx context.Context, q db.DBTX, src canon.Source, txID int64) (db.RacSeal, error) {
	return sealRow(q.QueryRow(ctx, "SELECT "+sealColumns+" FROM "+SealsRelation(src)+`
		WHERE horizon_from <= $1::bigint AND horizon_to > $1::bigint ORDER BY horizon_from DESC LIMIT 1`, txID))
}

// SealsBetween returns the seals with ids from from to to, both included,
// in id order.
func SealsBetween(ctx context.Context, q db.DBTX, src canon.Source, from, to int64) ([]db.RacSeal, error) {
	return sealRows(q.Query(ctx, "SELECT "+sealColumns+" FROM "+SealsRelation(src)+
		" WHERE id BETWEEN $1::bigint AND $2::bigint ORDER BY id", from, to))
}

// SealsByIDs returns the seals with the given ids, in id order.
func SealsByIDs(ctx context.Context, q db.DBTX, src canon.Source, ids []int64) ([]db.RacSeal, error) {
	return sealRows(q.Query(ctx, "SELECT "+sealColumns+" FROM "+SealsRelation(src)+
		" WHERE id = ANY ($1::bigint[]) ORDER BY id", ids))
}

// sealRow scans one seal.
func sealRow(row pgx.Row) (db.RacSeal, error) {
	var s db.RacSeal
	err := row.Scan(&s.ID, &s.Version, &s.HorizonFrom, &s.HorizonTo, &s.RowCounts, &s.MerkleRoot, &s.PrevHash, &s.SealHash, &s.SealedAt)
	return s, err
}

// sealRows scans every seal of rows.
func sealRows(rows pgx.Rows, err error) ([]db.RacSeal, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []db.RacSeal{}
	for rows.Next() {
		s, err := sealRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SchemaVersion returns the version of the last applied migration: from
// goose's version table when this session may read it, else from
// rac.schema_version() (migration 00014), which rac_auditor and
// rac_reconciler may call.
func SchemaVersion(ctx context.Context, q db.DBTX) (int64, error) {
	table := pgx.Identifier{migrate.TableName}.Sanitize()
	var readable bool
	if err := q.QueryRow(ctx, `SELECT coalesce(has_table_privilege(to_regclass($1), 'SELECT'), false)`, table).Scan(&readable); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	var v int64
	query := `SELECT rac.schema_version()`
	if readable {
		query = `SELECT coalesce(max(version_id), 0) FROM ` + table + ` WHERE is_applied`
	}
	if err := q.QueryRow(ctx, query).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
