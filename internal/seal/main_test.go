package seal_test

import (
	"testing"

	"github.com/racledger/racledger/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
