package migrations_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/pgtest"
)

// randomized sets up a seeded randomized test: its generator, how many
// steps to take and the line that replays it, which it logs.
//
//	RAC_SIM_SEED=N   replay seed N (default: a fresh seed)
//	RAC_SIM_STEPS=S  steps (default: defaultSteps)
func randomized(t *testing.T, defaultSteps int) (rng *rand.Rand, steps int, rerun string) {
	t.Helper()
	seed := rand.Uint64()
	if v := os.Getenv("RAC_SIM_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "RAC_SIM_SEED")
	}
	steps = defaultSteps
	if v := os.Getenv("RAC_SIM_STEPS"); v != "" {
		var err error
		steps, err = strconv.Atoi(v)
		require.NoError(t, err, "RAC_SIM_STEPS")
	}
	rerun = fmt.Sprintf("seed %d (rerun: RAC_SIM_SEED=%d RAC_SIM_STEPS=%d)", seed, seed, steps)
	t.Logf("%s", rerun)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), steps, rerun
}

// groupedLogin creates a login role in rac_writer and a NOLOGIN group it
// belongs to, both named so that they need quoting, and returns the
// login's URL and name and the group's name. The group is dropped when
// the test ends (the login by pgtest).
func groupedLogin(t *testing.T, db pgtest.Database, admin *pgxpool.Pool) (loginURL, login, group string) {
	t.Helper()
	ctx := context.Background()
	loginURL, login = pgtest.LoginRole(t, db, "rac_writer")
	group = "rac-Group-" + strings.TrimPrefix(login, "rac-Test-")
	groupIdent := pgx.Identifier{group}.Sanitize()
	for _, sql := range []string{
		`CREATE ROLE ` + groupIdent + ` NOLOGIN`,
		`GRANT ` + groupIdent + ` TO ` + pgx.Identifier{login}.Sanitize(),
	} {
		_, err := admin.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, `DROP ROLE `+groupIdent); err != nil {
			t.Errorf("drop %s: %v", group, err)
		}
	})
	return loginURL, login, group
}
