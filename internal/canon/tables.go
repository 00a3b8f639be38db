package canon

import (
	"fmt"
	"strings"
)

// Version is the canonical encoding version of new seals, the first byte
// of every leaf they cover. Version 2 added each row's author (the login
// role that wrote it) to expectations, acks and resolutions; seals made
// with version 1 keep verifying with version 1's columns.
const Version = 2

// FirstVersion is the oldest canonical encoding version this package reads.
const FirstVersion = 1

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
	// Since is the first encoding version with this column.
	Since int16
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
	// Version is the encoding version whose columns Columns are.
	Version int16
}

// Tables are the ledger tables in seal order, with the columns of the
// current encoding Version: a seal's leaves are the rows of its window,
// table by table in this order, each table in id order. Callers must not
// modify the slice.
var Tables = tablesAt(Version)

// tablesByVersion holds the tables of every version from FirstVersion.
var tablesByVersion = func() map[int16][]Table {
	m := make(map[int16][]Table)
	for v := int16(FirstVersion); v <= Version; v++ {
		m[v] = tablesAt(v)
	}
	return m
}()

// TablesAt returns the tables with the columns of encoding version v.
func TablesAt(v int16) ([]Table, error) {
	t, ok := tablesByVersion[v]
	if !ok {
		return nil, fmt.Errorf("canon: unknown encoding version %d (this rac reads %d to %d)", v, FirstVersion, Version)
	}
	return t, nil
}

// tablesAt returns allTables restricted to the columns of version v.
func tablesAt(v int16) []Table {
	out := make([]Table, len(allTables))
	for i, t := range allTables {
		t.Version = v
		t.Columns = nil
		for _, c := range allTables[i].Columns {
			if c.Since <= v {
				t.Columns = append(t.Columns, c)
			}
		}
		out[i] = t
	}
	return withSelects(out)
}

// allTables lists every column of every version.
var allTables = []Table{
	{
		Name: "rac.expectations", Stem: "expectations",
		Columns: []Column{
			{"id", Int8, false, 1}, {"tx_id", Int8, false, 1}, {"tenant", Text, false, 1}, {"run_id", UUID, false, 1},
			{"domain", Text, false, 1}, {"action", Text, false, 1}, {"declared_at", Timestamptz, false, 1},
			{"deadline_at", Timestamptz, true, 1}, {"deadline_ms", Int8, true, 1}, {"declared_by", Text, true, 1},
			{"metadata", JSONB, true, 1}, {"author", Text, true, 2},
		},
	},
	{
		Name: "rac.acks", Stem: "acks",
		Columns: []Column{
			{"id", Int8, false, 1}, {"tx_id", Int8, false, 1}, {"tenant", Text, false, 1}, {"run_id", UUID, false, 1},
			{"domain", Text, false, 1}, {"action", Text, false, 1}, {"acked_at", Timestamptz, false, 1},
			{"result_id", Text, true, 1}, {"idempotency_key", Text, true, 1}, {"error", Text, true, 1},
			{"metadata", JSONB, true, 1}, {"author", Text, true, 2},
		},
	},
	{
		Name: "rac.findings", Stem: "findings",
		Columns: []Column{
			{"id", Int8, false, 1}, {"tx_id", Int8, false, 1}, {"tenant", Text, false, 1},
			{"reconciliation_id", Int8, false, 1}, {"run_id", UUID, false, 1}, {"domain", Text, false, 1},
			{"action", Text, false, 1}, {"kind", Text, false, 1}, {"violated_at", Timestamptz, false, 1},
			{"detected_at", Timestamptz, false, 1}, {"detail", JSONB, false, 1},
		},
	},
	{
		Name: "rac.finding_resolutions", Stem: "resolutions",
		Columns: []Column{
			{"id", Int8, false, 1}, {"tx_id", Int8, false, 1}, {"tenant", Text, false, 1}, {"finding_id", Int8, false, 1},
			{"reconciliation_id", Int8, true, 1}, {"resolution", Text, false, 1}, {"resolved_at", Timestamptz, false, 1},
			{"recorded_at", Timestamptz, false, 1}, {"ack_id", Int8, true, 1}, {"actor", Text, true, 1},
			{"reason", Text, true, 1}, {"author", Text, true, 2},
		},
	},
	{
		Name: "rac.run_verdicts", Stem: "verdicts",
		Columns: []Column{
			{"id", Int8, false, 1}, {"tx_id", Int8, false, 1}, {"tenant", Text, false, 1},
			{"reconciliation_id", Int8, false, 1}, {"run_id", UUID, false, 1}, {"seq", Int8, false, 1},
			{"verdict", Text, false, 1}, {"recorded_at", Timestamptz, false, 1},
		},
	},
	{
		Name: "rac.reconciliations", Stem: "reconciliations",
		Columns: []Column{
			{"id", Int8, false, 1}, {"tx_id", Int8, false, 1}, {"pass_id", UUID, false, 1}, {"batch", Int8, false, 1},
			{"final", Bool, false, 1}, {"scope", Text, false, 1}, {"horizon_from", Int8, false, 1},
			{"horizon_to", Int8, false, 1}, {"deadline_from", Timestamptz, false, 1}, {"deadline_to", Timestamptz, false, 1},
			{"as_of", Timestamptz, false, 1}, {"grace_ms", Int8, false, 1}, {"candidate_runs", Int8, false, 1},
			{"findings_recorded", Int8, false, 1}, {"resolutions_recorded", Int8, false, 1},
			{"verdicts_recorded", Int8, false, 1}, {"started_at", Timestamptz, false, 1},
			{"finished_at", Timestamptz, false, 1}, {"reconciler", Text, false, 1},
		},
	},
}

// withSelects fills each table's Select.
func withSelects(tables []Table) []Table {
	for i := range tables {
		tables[i].Select = tables[i].SelectWhere("x.tx_id >= $1 AND x.tx_id < $2")
	}
	return tables
}

// Source is where the canonical columns of the ledger tables are read
// from. Both sources give the same values, so the same leaf bytes.
type Source int

const (
	// FromTables reads the ledger tables, joined to their catalogs: what
	// rac_reconciler, the schema owner and superusers read.
	FromTables Source = iota
	// FromViews reads the rac.audit_<stem> views of migration 00014, which
	// resolve the catalog names with the same joins and are scoped to the
	// session's tenants: what a login in rac_auditor reads.
	FromViews
)

// String names the source: "tables" or "views".
func (s Source) String() string {
	if s == FromViews {
		return "views"
	}
	return "tables"
}

// View returns the read-only view of migration 00014 with t's canonical
// columns, e.g. "rac.audit_acks".
func (t *Table) View() string { return "rac.audit_" + t.Stem }

// Relation returns the relation src reads t's rows from: its table or
// its view. Both have the columns id and tx_id.
func (t *Table) Relation(src Source) string {
	if src == FromViews {
		return t.View()
	}
	return t.Name
}

// SelectWhere returns the statement that reads t's canonical columns, in
// Columns order and named as in Columns, for the rows that satisfy cond,
// ordered by id, from the ledger table: SelectIn(FromTables, cond).
func (t *Table) SelectWhere(cond string) string { return t.SelectIn(FromTables, cond) }

// SelectIn returns the statement that reads t's canonical columns from
// src, in Columns order and named as in Columns, for the rows that satisfy
// cond, ordered by id. Catalog references are resolved to names; int4/int2
// columns are cast to int8 and jsonb to text, so pgx decodes every value
// to a type EncodeLeaf accepts. In cond, x is the table (or view) and
// [Table.Ref] names a canonical column; from the table, t is its tenant
// (rac.tenants) when it has a tenant column, c its contract action
// (rac.contract_actions) when it has domain and action columns.
func (t *Table) SelectIn(src Source, cond string) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		expr := t.Ref(src, c.Name)
		switch {
		case src == FromTables && (c.Name == "tenant" || c.Name == "domain" || c.Name == "action" || c.Name == "author"):
		case c.Type == Int8:
			expr += "::int8"
		case c.Type == JSONB:
			expr += "::text"
		}
		cols[i] = expr + " AS " + quoteIdent(c.Name)
	}
	return "SELECT " + strings.Join(cols, ", ") + "\n" + t.FromWhereIn(src, cond) + "\nORDER BY x.id"
}

// Ref returns the SQL expression of t's canonical column name in the FROM
// clause of FromWhereIn(src, ...), uncast: from the table, t.name for
// tenant, c.domain and c.action, au.role_name::text for author, else
// x.name; from the view, x.name.
func (t *Table) Ref(src Source, name string) string {
	if src == FromViews {
		return "x." + name
	}
	switch name {
	case "tenant":
		return "t.name"
	case "domain", "action":
		return "c." + name
	case "author":
		return "au.role_name::text"
	}
	return "x." + name
}

// FromWhere returns the FROM and WHERE clauses of SelectWhere(cond): the
// table as x, joined to its catalog names, the rows satisfying cond.
func (t *Table) FromWhere(cond string) string { return t.FromWhereIn(FromTables, cond) }

// FromWhereIn returns the FROM and WHERE clauses of SelectIn(src, cond):
// the table as x, joined to its catalog names, or its view as x, and the
// rows satisfying cond.
func (t *Table) FromWhereIn(src Source, cond string) string {
	var b strings.Builder
	if src == FromViews {
		return "FROM " + t.View() + " x\nWHERE " + cond
	}
	fmt.Fprintf(&b, "FROM %s x", t.Name)
	if t.HasColumn("tenant") {
		b.WriteString("\nJOIN rac.tenants t ON t.id = x.tenant_id")
	}
	if t.HasColumn("domain") {
		b.WriteString("\nJOIN rac.contract_actions c ON c.id = x.action_id")
	}
	if t.HasColumn("author") {
		b.WriteString("\nLEFT JOIN rac.authors au ON au.id = x.author_id")
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
// ("finding_resolutions"), with the current version's columns, and its
// position in seal order.
func Lookup(name string) (*Table, int, error) {
	return LookupAt(Version, name)
}

// LookupAt is Lookup for the columns of encoding version v.
func LookupAt(v int16, name string) (*Table, int, error) {
	tables, err := TablesAt(v)
	if err != nil {
		return nil, -1, err
	}
	for i := range tables {
		t := &tables[i]
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
