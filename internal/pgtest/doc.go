// Package pgtest gives each test an isolated PostgreSQL database with the
// RAC Ledger migrations applied. Every test in the repository that needs a
// database gets it here:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		pool := pgtest.NewPool(t) // fresh, migrated, dropped after the test
//		...
//	}
//
// # Which server
//
// The server is found once per test binary, on first use, in this order:
//
//  1. RAC_TEST_DATABASE_URL, a postgres:// URL for a superuser on a server
//     you run. When it is set nothing else is tried: a bad URL or an
//     unreachable server fails the test.
//  2. A postgres:15 container started with testcontainers-go, when a Docker
//     engine answers within five seconds. Docker is not even asked when
//     DOCKER_HOST is unset and no Docker socket exists.
//  3. A throwaway local cluster started from the PostgreSQL server binaries
//     (see internal/pglocal), in a temporary directory that Main removes.
//
// When none works the test fails (it never skips) and the message says what
// to set or install. The test that triggered discovery logs which server was
// chosen (visible with go test -v).
//
// # Which database
//
// The migrations are applied once per server into a template database whose
// name derives from a hash of every file in migrations.FS, so changing a
// migration makes a new template. Each test gets a clone of it (CREATE
// DATABASE ... TEMPLATE, built on github.com/peterldowns/pgtestdb), which
// is dropped when the test ends, or kept for inspection if the test failed.
// Tests connect as the server's superuser, so they may terminate backends,
// create roles and so on.
//
// # Durability
//
// Crash and durability tests rely on the server running with fsync=on and
// synchronous_commit=on: a committed transaction must be on disk when
// COMMIT returns. The Docker and local servers are started with both
// settings, and discovery checks that the server reports both as "on",
// refusing a server (for instance one at RAC_TEST_DATABASE_URL tuned with
// fsync=off for speed) that does not.
package pgtest
