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

// TimeColumn returns the creation time column of t that an export range
// applies to.
func TimeColumn(t *canon.Table) string { return timeColumns[t.Stem] }

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
// as in canon, for the rows whose creation time lies in [from, to), in id
// order; with a tenant, only that tenant's rows. from, to and tenant are
// SQL expressions: placeholders for a query, literals for COPY, which
// takes no parameters.
func selectSQL(t *canon.Table, from, to, tenant string) string {
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
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s\nFROM %s x", strings.Join(cols, ", "), t.Name)
	if hasColumn(t, "tenant") {
		b.WriteString("\nJOIN rac.tenants t ON t.id = x.tenant_id")
	}
	if hasColumn(t, "domain") {
		b.WriteString("\nJOIN rac.contract_actions c ON c.id = x.action_id")
	}
	tc := TimeColumn(t)
	fmt.Fprintf(&b, "\nWHERE x.%s >= %s AND x.%s < %s", tc, from, tc, to)
	if tenant != "" && tenantScoped(t) {
		fmt.Fprintf(&b, " AND t.name = %s", tenant)
	}
	b.WriteString("\nORDER BY x.id")
	return b.String()
}

// quoteIdent quotes a column name as an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on in every supported PostgreSQL).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
