// Package migrations holds the goose SQL migrations that define the RAC
// Ledger schema. They are the only place the schema changes; each file is
// embedded so the rac binary and the test harness carry their own schema.
package migrations

import "embed"

// FS holds every migration file, in goose's numbered order.
//
//go:embed *.sql
var FS embed.FS
