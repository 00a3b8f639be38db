package migrations_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
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
