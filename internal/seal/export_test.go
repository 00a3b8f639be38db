package seal

import (
	"github.com/jackc/pgx/v5/pgxpool"
)

// NewWithVersion returns a Sealer that makes seals of an older encoding
// version, as a ledger sealed before an upgrade has them.
func NewWithVersion(pool *pgxpool.Pool, opts Options, version int16) (*Sealer, error) {
	s, err := New(pool, opts)
	if err != nil {
		return nil, err
	}
	s.version = version
	return s, nil
}
