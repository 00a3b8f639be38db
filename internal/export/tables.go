package export

import (
	"fmt"
	"strings"

	"github.com/racledger/racledger/internal/canon"
)

// timeColumns names, per table stem, the creation time column a range
// applies to.
var timeColumns = map[string]string{
	"expectations":    "declared_at",
	"acks":            "acked_at",
	"findings":        "detected_at",
	"resolutions":     "recorded_at",
	"verdicts":        "recorded_at",
	"reconciliations": "finished_at",
}

// timeColumn returns the creation time column of t that an export range
// applies to.
func timeColumn(t *canon.Table) string { return timeColumns[t.Stem] }

// hasColumn reports whether t has a canonical column named name.
func hasColumn(t *canon.Table, name string) bool {
	for _, c := range t.Columns {
		if c.Name == name {
			return true
		}
	}
	return false
}

// tenantScoped reports whether t's rows belong to a tenant (every table
// but rac.reconciliations).
func tenantScoped(t *canon.Table) bool { return hasColumn(t, "tenant") }

// selectSQL returns the statement that reads t's canonical columns, named
// as in canon, for the rows that satisfy cond (the range predicate on x),
// in id order; with a tenant, only that tenant's rows. cond and tenant
// hold SQL expressions: placeholders for a query, literals for COPY, which
// takes no parameters.
func selectSQL(t *canon.Table, cond, tenant string) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		var expr string
		switch {
		case c.Name == "tenant":
			expr = "t.name"
		case c.Name == "domain" || c.Name == "action":
			expr = "c." + c.Name
		case c.Type == canon.Int8:
			expr = "x." + c.Name + "::int8"
		case c.Type == canon.JSONB:
			expr = "x." + c.Name + "::text"
		default:
			expr = "x." + c.Name
		}
		cols[i] = expr + " AS " + quoteIdent(c.Name)
	}
	return "SELECT " + strings.Join(cols, ", ") + "\n" + fromWhereSQL(t, cond, tenant) + "\nORDER BY x.id"
}

// fromWhereSQL returns the FROM and WHERE clauses of selectSQL: t as x,
// joined to its catalog names, the rows satisfying cond and, with a
// tenant, of that tenant.
func fromWhereSQL(t *canon.Table, cond, tenant string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s x", t.Name)
	if tenantScoped(t) {
		b.WriteString("\nJOIN rac.tenants t ON t.id = x.tenant_id")
	}
	if hasColumn(t, "domain") {
		b.WriteString("\nJOIN rac.contract_actions c ON c.id = x.action_id")
	}
	b.WriteString("\nWHERE " + cond)
	if tenant != "" && tenantScoped(t) {
		fmt.Fprintf(&b, " AND t.name = %s", tenant)
	}
	return b.String()
}

// quoteIdent quotes a column name as an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on in every supported PostgreSQL).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
