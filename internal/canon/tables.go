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
	// Select returns the table's canonical columns, as SelectWhere does,
	// for the rows with $1 <= tx_id < $2, ordered by id.
	Select string
}

// Tables are the ledger tables in seal order: a seal's leaves are the rows
// of its window, table by table in this order, each table in id order.
// Callers must not modify the slice.
var Tables = withSelects([]Table{
	{
		Name: "rac.expectations", Stem: "expectations",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"tenant", Text, false}, {"run_id", UUID, false},
			{"domain", Text, false}, {"action", Text, false}, {"declared_at", Timestamptz, false},
			{"deadline_at", Timestamptz, true}, {"deadline_ms", Int8, true}, {"declared_by", Text, true},
			{"metadata", JSONB, true},
		},
	},
	{
		Name: "rac.acks", Stem: "acks",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"tenant", Text, false}, {"run_id", UUID, false},
			{"domain", Text, false}, {"action", Text, false}, {"acked_at", Timestamptz, false},
			{"result_id", Text, true}, {"idempotency_key", Text, true}, {"error", Text, true},
			{"metadata", JSONB, true},
		},
	},
	{
		Name: "rac.findings", Stem: "findings",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"tenant", Text, false},
			{"reconciliation_id", Int8, false}, {"run_id", UUID, false}, {"domain", Text, false},
			{"action", Text, false}, {"kind", Text, false}, {"violated_at", Timestamptz, false},
			{"detected_at", Timestamptz, false}, {"detail", JSONB, false},
		},
	},
	{
		Name: "rac.finding_resolutions", Stem: "resolutions",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"tenant", Text, false}, {"finding_id", Int8, false},
			{"reconciliation_id", Int8, true}, {"resolution", Text, false}, {"resolved_at", Timestamptz, false},
			{"recorded_at", Timestamptz, false}, {"ack_id", Int8, true}, {"actor", Text, true},
			{"reason", Text, true},
		},
	},
	{
		Name: "rac.run_verdicts", Stem: "verdicts",
		Columns: []Column{
			{"id", Int8, false}, {"tx_id", Int8, false}, {"tenant", Text, false},
			{"reconciliation_id", Int8, false}, {"run_id", UUID, false}, {"seq", Int8, false},
			{"verdict", Text, false}, {"recorded_at", Timestamptz, false},
		},
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
	},
})

// withSelects fills each table's Select.
func withSelects(tables []Table) []Table {
	for i := range tables {
		tables[i].Select = tables[i].SelectWhere("x.tx_id >= $1 AND x.tx_id < $2")
	}
	return tables
}

// SelectWhere returns the statement that reads t's canonical columns, in
// Columns order and named as in Columns, for the rows that satisfy cond,
// ordered by id. Catalog references are resolved to names; int4/int2
// columns are cast to int8 and jsonb to text, so pgx decodes every value
// to a type EncodeLeaf accepts. In cond, x is the table, t its tenant
// (rac.tenants) when it has a tenant column, c its contract action
// (rac.contract_actions) when it has domain and action columns.
func (t *Table) SelectWhere(cond string) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		var expr string
		switch {
		case c.Name == "tenant":
			expr = "t.name"
		case c.Name == "domain" || c.Name == "action":
			expr = "c." + c.Name
		case c.Type == Int8:
			expr = "x." + c.Name + "::int8"
		case c.Type == JSONB:
			expr = "x." + c.Name + "::text"
		default:
			expr = "x." + c.Name
		}
		cols[i] = expr + " AS " + quoteIdent(c.Name)
	}
	return "SELECT " + strings.Join(cols, ", ") + "\n" + t.FromWhere(cond) + "\nORDER BY x.id"
}

// FromWhere returns the FROM and WHERE clauses of SelectWhere(cond): the
// table as x, joined to its catalog names, the rows satisfying cond.
func (t *Table) FromWhere(cond string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s x", t.Name)
	if t.HasColumn("tenant") {
		b.WriteString("\nJOIN rac.tenants t ON t.id = x.tenant_id")
	}
	if t.HasColumn("domain") {
		b.WriteString("\nJOIN rac.contract_actions c ON c.id = x.action_id")
	}
	b.WriteString("\nWHERE " + cond)
	return b.String()
}

// HasColumn reports whether t has a canonical column named name.
func (t *Table) HasColumn(name string) bool {
	for _, c := range t.Columns {
		if c.Name == name {
			return true
		}
	}
	return false
}

// quoteIdent quotes a column name as an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

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
