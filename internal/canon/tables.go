package canon

import (
	"fmt"
	"strings"
)

// Version is the canonical encoding version, the first byte of every leaf.
const Version = 1

// Type is the canonical type of a column. It names how a value is encoded,
// not necessarily the PostgreSQL storage type: int4 and int2 columns are
// selected as int8, jsonb as its text output.
type Type string

// Column types of the canonical encoding.
const (
	Int8        Type = "int8"        // 8 bytes, big-endian two's complement
	Bool        Type = "bool"        // 1 byte, 0x00 or 0x01
	UUID        Type = "uuid"        // 16 bytes
	Timestamptz Type = "timestamptz" // 8 bytes, big-endian microseconds since the Unix epoch (UTC)
	Text        Type = "text"        // 4-byte big-endian length, then UTF-8 bytes
	JSONB       Type = "jsonb"       // PostgreSQL's text output of the value (col::text), encoded as Text
)

// Column is one canonical column of a table.
type Column struct {
	// Name is the column name in exports and in the table's Select.
	Name string
	// Type is the canonical type that decides the column's bytes.
	Type Type
	// Nullable reports whether the column may be NULL in the ledger.
	Nullable bool
}

// Table describes one ledger table in the canonical encoding.
type Table struct {
	// Name is the schema-qualified SQL table, e.g. "rac.acks".
	Name string
	// Stem is the export file stem, e.g. "acks". It is also the table name
	// written into every leaf of the table.
	Stem string
	// Columns are the canonical columns, in encoding order. The first is
	// always id, the second tx_id.
	Columns []Column
	// Select returns the table's canonical columns, in Columns order, for
	// the rows with $1 <= tx_id < $2, ordered by id. Catalog references are
	// resolved to names; int4/int2 columns are cast to int8 and jsonb to
	// text, so pgx decodes every value to a type EncodeLeaf accepts.
	Select string
	// Count returns the number of rows with $1 <= tx_id < $2.
	Count string
}

// Tables are the ledger tables in seal order: a seal's leaves are the rows
// of its window, table by table in this order, each table in id order.
// Callers must not modify the slice.
var Tables = []Table{
	{
		Name: "rac.expectations", Stem: "expectations",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"tenant", Text, false}, {"run_id", UUID, false},
			{"domain", Text, false}, {"action", Text, false}, {"declared_at", Timestamptz, false},
			{"deadline_at", Timestamptz, true}, {"deadline_ms", Int8, true}, {"declared_by", Text, true},
			{"metadata", JSONB, true},
		},
		Select: `SELECT x.id, x.tx_id, t.name, x.run_id, c.domain, c.action, x.declared_at,
       x.deadline_at, x.deadline_ms, x.declared_by, x.metadata::text
FROM rac.expectations x
JOIN rac.tenants t ON t.id = x.tenant_id
JOIN rac.contract_actions c ON c.id = x.action_id
WHERE x.tx_id >= $1 AND x.tx_id < $2
ORDER BY x.id`,
	},
	{
		Name: "rac.acks", Stem: "acks",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"tenant", Text, false}, {"run_id", UUID, false},
			{"domain", Text, false}, {"action", Text, false}, {"acked_at", Timestamptz, false},
			{"result_id", Text, true}, {"idempotency_key", Text, true}, {"error", Text, true},
			{"metadata", JSONB, true},
		},
		Select: `SELECT x.id, x.tx_id, t.name, x.run_id, c.domain, c.action, x.acked_at,
       x.result_id, x.idempotency_key, x.error, x.metadata::text
FROM rac.acks x
JOIN rac.tenants t ON t.id = x.tenant_id
JOIN rac.contract_actions c ON c.id = x.action_id
WHERE x.tx_id >= $1 AND x.tx_id < $2
ORDER BY x.id`,
	},
	{
		Name: "rac.findings", Stem: "findings",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"tenant", Text, false},
			{"reconciliation_id", Int8, false}, {"run_id", UUID, false}, {"domain", Text, false},
			{"action", Text, false}, {"kind", Text, false}, {"violated_at", Timestamptz, false},
			{"detected_at", Timestamptz, false}, {"detail", JSONB, false},
		},
		Select: `SELECT x.id, x.tx_id, t.name, x.reconciliation_id, x.run_id, c.domain, c.action, x.kind,
       x.violated_at, x.detected_at, x.detail::text
FROM rac.findings x
JOIN rac.tenants t ON t.id = x.tenant_id
JOIN rac.contract_actions c ON c.id = x.action_id
WHERE x.tx_id >= $1 AND x.tx_id < $2
ORDER BY x.id`,
	},
	{
		Name: "rac.finding_resolutions", Stem: "resolutions",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"tenant", Text, false}, {"finding_id", Int8, false},
			{"reconciliation_id", Int8, true}, {"resolution", Text, false}, {"resolved_at", Timestamptz, false},
			{"recorded_at", Timestamptz, false}, {"ack_id", Int8, true}, {"actor", Text, true},
			{"reason", Text, true},
		},
		Select: `SELECT x.id, x.tx_id, t.name, x.finding_id, x.reconciliation_id, x.resolution, x.resolved_at,
       x.recorded_at, x.ack_id, x.actor, x.reason
FROM rac.finding_resolutions x
JOIN rac.tenants t ON t.id = x.tenant_id
WHERE x.tx_id >= $1 AND x.tx_id < $2
ORDER BY x.id`,
	},
	{
		Name: "rac.run_verdicts", Stem: "verdicts",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"tenant", Text, false},
			{"reconciliation_id", Int8, false}, {"run_id", UUID, false}, {"seq", Int8, false},
			{"verdict", Text, false}, {"recorded_at", Timestamptz, false},
		},
		Select: `SELECT x.id, x.tx_id, t.name, x.reconciliation_id, x.run_id, x.seq::int8, x.verdict, x.recorded_at
FROM rac.run_verdicts x
JOIN rac.tenants t ON t.id = x.tenant_id
WHERE x.tx_id >= $1 AND x.tx_id < $2
ORDER BY x.id`,
	},
	{
		Name: "rac.reconciliations", Stem: "reconciliations",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"pass_id", UUID, false}, {"batch", Int8, false},
			{"final", Bool, false}, {"scope", Text, false}, {"horizon_from", Int8, false},
			{"horizon_to", Int8, false}, {"deadline_from", Timestamptz, false}, {"deadline_to", Timestamptz, false},
			{"as_of", Timestamptz, false}, {"grace_ms", Int8, false}, {"candidate_runs", Int8, false},
			{"findings_recorded", Int8, false}, {"resolutions_recorded", Int8, false},
			{"verdicts_recorded", Int8, false}, {"started_at", Timestamptz, false},
			{"finished_at", Timestamptz, false}, {"reconciler", Text, false},
		},
		Select: `SELECT x.id, x.tx_id, x.pass_id, x.batch::int8, x.final, x.scope, x.horizon_from, x.horizon_to,
       x.deadline_from, x.deadline_to, x.as_of, x.grace_ms, x.candidate_runs::int8,
       x.findings_recorded::int8, x.resolutions_recorded::int8, x.verdicts_recorded::int8,
       x.started_at, x.finished_at, x.reconciler
FROM rac.reconciliations x
WHERE x.tx_id >= $1 AND x.tx_id < $2
ORDER BY x.id`,
	},
}

func init() {
	for i := range Tables {
		t := &Tables[i]
		t.Count = "SELECT count(*) FROM " + t.Name + " WHERE tx_id >= $1 AND tx_id < $2"
	}
}

// Lookup returns the table named by its stem ("resolutions"), its SQL name
// ("rac.finding_resolutions") or its unqualified SQL name
// ("finding_resolutions"), and its position in seal order.
func Lookup(name string) (*Table, int, error) {
	for i := range Tables {
		t := &Tables[i]
		if name == t.Stem || name == t.Name || name == strings.TrimPrefix(t.Name, "rac.") {
			return t, i, nil
		}
	}
	return nil, -1, fmt.Errorf("canon: unknown table %q", name)
}

// ColumnNames returns the table's canonical column names in order.
func (t *Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}
