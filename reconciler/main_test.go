package reconciler_test

import (
	"testing"

	"github.com/racledger/racledger/internal/pgtest"
)

// exampleDatabaseURL is a migrated database for the package's Examples.
var exampleDatabaseURL string

func TestMain(m *testing.M) {
	pgtest.MainWithDatabase(m, func(db pgtest.Database) { exampleDatabaseURL = db.URL })
}
