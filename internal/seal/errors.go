package seal

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// translate turns the driver errors of a lost race (a unique violation or
// a serialization failure on rac.seals or rac.seal_chunks) into ErrConflict.
func translate(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "40001") {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}
