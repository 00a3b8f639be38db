package export

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/canon"
)

func TestEveryTableHasATimeColumn(t *testing.T) {
	t.Parallel()
	for i := range canon.Tables {
		tb := &canon.Tables[i]
		col := timeColumn(tb)
		require.NotEmpty(t, col, "%s has no range column", tb.Name)
		j := slices.IndexFunc(tb.Columns, func(c canon.Column) bool { return c.Name == col })
		require.GreaterOrEqual(t, j, 0, "%s has no column %s", tb.Name, col)
		require.Equal(t, canon.Timestamptz, tb.Columns[j].Type, "%s.%s", tb.Name, col)
		require.False(t, tb.Columns[j].Nullable, "%s.%s", tb.Name, col)
	}
}
