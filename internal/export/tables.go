package export

import (
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

// tenantScoped reports whether t's rows belong to a tenant (every table
// but rac.reconciliations).
func tenantScoped(t *canon.Table) bool { return t.HasColumn("tenant") }

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on in every supported PostgreSQL).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
