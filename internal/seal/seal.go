package seal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/racledger/racledger/db"
	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/txutil"
)

// lockID is the session advisory lock key sealers take so that only one
// seals at a time ("RACSEAL" in ASCII). Correctness does not depend on it:
// the primary key of rac.seals refuses a fork.
const lockID int64 = 0x52414353_45414c

// queries are the package's sqlc queries; they are stateless, each call
// takes the caller's DBTX.
var queries = db.New()

// ErrInvalidOptions is returned (wrapped) by New for bad options.
var ErrInvalidOptions = errors.New("seal: invalid options")

// ErrConflict is returned (wrapped) when another sealer appended the same
// seal first; the chain is intact and the next attempt seals after it.
var ErrConflict = errors.New("seal: another sealer appended this seal first")

// ErrPartialView is returned (wrapped) when the session does not see every
// ledger row: its tenant scope (row-level security on the tables, the same
// scope on the audit views) is some tenants only (a pinned role, or
// rac.tenant set for a role that is not an operator). A seal, a
// verification or a proof over some tenants' rows would be wrong, so none
// is attempted. Seal as the table owner, a superuser or a member of
// rac_reconciler; verify and prove as one of those or as a rac_auditor
// login that sees every tenant.
var ErrPartialView = errors.New("seal: this session does not see every ledger row (its tenant scope is some tenants only)")

// ErrHeadTampered is returned (wrapped, with what was found) when the head
// of the chain does not verify against its rows or its predecessor: a seal
// appended after it would vouch for a chain that is already broken, so
// none is. Run `rac verify` to see the whole chain.
var ErrHeadTampered = errors.New("seal: the head of the chain does not verify; refusing to extend it")

// Options configure a Sealer.
type Options struct {
	// Registerer receives the sealer's metrics. Nil: no metrics.
	Registerer prometheus.Registerer
	// Logger receives one line per seal and errors. Nil: discard.
	Logger *slog.Logger
	// Timeout bounds one Seal call in Run. Default 30 minutes.
	Timeout time.Duration
	// AfterSeal, when set, is called after every Seal call with its
	// outcome (rac serve starts verifying after the first one).
	AfterSeal func(Result, error)
	// Progress, when set, is called as a Seal call reads the rows it
	// seals (not those of the head it re-verifies first); see [Progress].
	Progress func(Progress)
}

// Head identifies the latest seal of the chain: what an operator publishes.
type Head struct {
	ID   int64
	Hash canon.Hash
}

// String returns "seal ID head HASH".
func (h Head) String() string { return fmt.Sprintf("seal %d head %s", h.ID, h.Hash) }

// Result is what one Seal call did.
type Result struct {
	// Sealed reports whether a new seal was appended. False: nothing new
	// was final, and Head is the existing head (nil when there is none).
	Sealed bool
	// Head is the head of the chain after the call.
	Head *Head
	// Seal is the new seal's header when Sealed.
	Seal canon.SealHeader
	// Rows is the number of rows the new seal covers, Seal.TreeSize().
	Rows int64
}

// Sealer appends seals to rac.seals. It is safe for concurrent use, and any
// number of sealers may run against one database.
type Sealer struct {
	pool      *pgxpool.Pool
	logger    *slog.Logger
	timeout   time.Duration
	metrics   *metrics
	afterSeal func(Result, error)
	progress  func(Progress)
	// version is the canonical encoding of new seals: canon.Version
	// (tests make older ones, as a ledger sealed before an upgrade has).
	version int16
}

// New returns a Sealer over pool.
func New(pool *pgxpool.Pool, opts Options) (*Sealer, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrInvalidOptions)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative timeout %v", ErrInvalidOptions, opts.Timeout)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("seal: register metrics: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 30 * time.Minute
	}
	return &Sealer{pool: pool, logger: logger, timeout: timeout, metrics: m, afterSeal: opts.AfterSeal,
		progress: opts.Progress, version: canon.Version}, nil
}

// Seal appends one seal over pool's ledger without metrics or logging; see
// [Sealer.Seal].
func Seal(ctx context.Context, pool *pgxpool.Pool) (Result, error) {
	s, err := New(pool, Options{})
	if err != nil {
		return Result{}, err
	}
	return s.Seal(ctx)
}

// Seal closes the rows that became final since the last seal into a new
// seal: it takes the horizon (pg_snapshot_xmin of its REPEATABLE READ
// snapshot), and seals every ledger row with tx_id in [previous horizon,
// horizon). Nothing new final: no seal, and the result names the existing
// head. Sealing never blocks writers: it reads the ledger tables under its
// snapshot and writes only rac.seals and rac.seal_chunks.
func (s *Sealer) Seal(ctx context.Context) (Result, error) {
	start := time.Now()
	res, err := s.seal(ctx)
	s.metrics.duration.Observe(time.Since(start).Seconds())
	switch {
	case err != nil:
		s.metrics.seals.WithLabelValues("error").Inc()
		s.logger.ErrorContext(ctx, "seal: failed", slog.Any("error", err))
	case res.Sealed:
		s.metrics.seals.WithLabelValues("sealed").Inc()
		s.metrics.rows.Add(float64(res.Rows))
		s.logger.InfoContext(ctx, "seal: sealed", slog.Int64("seal_id", res.Head.ID),
			slog.String("seal_hash", res.Head.Hash.String()), slog.Int64("rows", res.Rows),
			slog.Int64("horizon_to", res.Seal.HorizonTo), slog.Duration("duration", time.Since(start)))
	default:
		s.metrics.seals.WithLabelValues("empty").Inc()
		s.logger.DebugContext(ctx, "seal: nothing new is final")
	}
	if err == nil {
		s.metrics.lastSuccess.SetToCurrentTime()
		if res.Head != nil {
			s.metrics.headID.Set(float64(res.Head.ID))
		}
	}
	if s.afterSeal != nil {
		s.afterSeal(res, err)
	}
	return res, err
}

// Run seals every interval until ctx is done, each call under the
// Sealer's timeout. Errors are logged and counted, never fatal.
func (s *Sealer) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("%w: interval %v must be positive", ErrInvalidOptions, every)
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, s.timeout)
		_, _ = s.Seal(sctx) // logged and counted by Seal
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (s *Sealer) seal(ctx context.Context) (Result, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("seal: acquire connection: %w", err)
	}
	defer conn.Release()

	// A session lock taken before the transaction begins: the next sealer
	// waits here and then takes a snapshot that sees this one's seal.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID); err != nil {
		return Result{}, fmt.Errorf("seal: take the sealing lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", lockID); err != nil {
			// Never hand a connection holding the lock back to the pool.
			_ = conn.Conn().Close(uctx)
		}
	}()

	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return Result{}, fmt.Errorf("seal: begin: %w", err)
	}
	defer rollback(ctx, tx)
	return sealTx(ctx, tx, s.version, newTracker(s.progress, 0))
}

// sealTx appends the next seal, in encoding version, in tx, a REPEATABLE READ transaction whose
// snapshot sets the horizon, and commits it, reporting the rows it reads
// to tr (nil: none). Two sealTx whose snapshots
// read the same head (no sealing lock) both seal the same id: the primary
// keys of rac.seals and rac.seal_chunks fail the second with ErrConflict.
func sealTx(ctx context.Context, tx pgx.Tx, version int16, tr *tracker) (Result, error) {
	start, err := queries.SealStart(ctx, tx)
	if err != nil {
		return Result{}, fmt.Errorf("seal: read the horizon: %w", err)
	}
	if err := seesWholeLedger(ctx, tx); err != nil {
		return Result{}, err
	}
	head, err := queries.SealHead(ctx, tx)
	var prev *db.RacSeal
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return Result{}, fmt.Errorf("seal: read the head: %w", err)
	default:
		prev = &head
		if err := checkHead(ctx, tx, prev); err != nil {
			return Result{}, err
		}
	}
	hdr := canon.SealHeader{ID: 1, Version: version, HorizonTo: start.Horizon, SealedAt: start.Now}
	var current *Head
	if prev != nil {
		current = &Head{ID: prev.ID, Hash: hashOf(prev.SealHash)}
		hdr.ID, hdr.HorizonFrom, hdr.PrevHash = prev.ID+1, prev.HorizonTo, current.Hash
	}
	if hdr.HorizonTo <= hdr.HorizonFrom {
		return Result{Head: current}, nil
	}

	prefixes := make([]byte, 0, 8*fetchSize)
	chunks := make([]int32, len(canon.Tables))
	w, err := streamWindow(ctx, tx, canon.FromTables, "seal_rows", hdr.Version, hdr.HorizonFrom, hdr.HorizonTo, rowKey{}, func(i int, batch []leafRow) error {
		prefixes = prefixes[:0]
		for _, r := range batch {
			prefixes = append(prefixes, r.hash[:8]...)
		}
		stem := canon.Tables[i].Stem
		err := queries.SealChunkInsert(ctx, tx, db.SealChunkInsertParams{
			SealID: hdr.ID, TableName: stem, ChunkNo: chunks[i],
			FirstID: batch[0].id, LastID: batch[len(batch)-1].id,
			RowCount: int32(len(batch)), LeafPrefixes: prefixes,
		})
		if err != nil {
			// A sealer that read the same head inserted this chunk first.
			return fmt.Errorf("record hints for %s: %w", stem, translate(err))
		}
		chunks[i]++
		tr.batch(hdr.ID, i, len(batch))
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("seal: %w", err)
	}
	hdr.RowCounts = w.counts
	if w.tree.Size() == 0 {
		// Nothing new is final: the window stays open for the next seal.
		return Result{Head: current}, nil
	}
	hdr.MerkleRoot = w.tree.Root()
	hash := hdr.Hash()
	n, err := queries.SealInsert(ctx, tx, db.SealInsertParams{
		ID: hdr.ID, Version: hdr.Version, HorizonFrom: hdr.HorizonFrom, HorizonTo: hdr.HorizonTo,
		RowCounts: hdr.RowCounts, MerkleRoot: hdr.MerkleRoot[:], PrevHash: hdr.PrevHash[:],
		SealHash: hash[:], SealedAt: hdr.SealedAt,
	})
	if err != nil {
		return Result{}, fmt.Errorf("seal: insert seal %d: %w", hdr.ID, translate(err))
	}
	if n == 0 {
		return Result{}, fmt.Errorf("%w (seal %d)", ErrConflict, hdr.ID)
	}
	if err := tx.Commit(ctx); err != nil {
		return Result{}, fmt.Errorf("seal: commit seal %d: %w", hdr.ID, translate(err))
	}
	return Result{Sealed: true, Head: &Head{ID: hdr.ID, Hash: hash}, Seal: hdr, Rows: int64(hdr.TreeSize())}, nil
}

// checkHead verifies the head of the chain before a seal extends it: its
// own hash, its link to its predecessor (whose own hash is checked too)
// and its rows, recomputed in tx's snapshot. It returns ErrHeadTampered,
// naming what Verify would report, when the head does not verify. Older
// seals are left to Verify: a seal costs one extra pass over the head's
// window, not over the ledger.
func checkHead(ctx context.Context, tx pgx.Tx, head *db.RacSeal) error {
	var pred *db.RacSeal
	from := int64(0)
	if head.ID > 1 {
		p, err := queries.SealNext(ctx, tx, head.ID-2)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("seal: read seal %d: %w", head.ID-1, err)
		}
		if err == nil && p.ID == head.ID-1 {
			pred = &p
			if _, t := checkSeal(pred, nil, pred.ID); t != nil {
				return fmt.Errorf("%w: %s", ErrHeadTampered, t)
			}
		} else {
			// No predecessor: checkSeal reports the chain broken.
			from = head.ID - 1
		}
	}
	hdr, t := checkSeal(head, pred, from)
	if t == nil {
		var err error
		if t, err = verifyRowsTx(ctx, tx, canon.FromTables, hdr, nil); err != nil {
			return fmt.Errorf("seal: verify the head: %w", err)
		}
	}
	if t != nil {
		return fmt.Errorf("%w: %s", ErrHeadTampered, t)
	}
	return nil
}

// RequireWholeLedger returns ErrPartialView unless the session reads every
// ledger row: a check callers make before work that needs every row (an
// export by seal range), so they refuse before writing anything.
func RequireWholeLedger(ctx context.Context, q db.DBTX) error { return seesWholeLedger(ctx, q) }

// seesWholeLedger returns ErrPartialView unless the session reads every
// ledger row.
func seesWholeLedger(ctx context.Context, q db.DBTX) error {
	whole, err := queries.SealSeesWholeLedger(ctx, q)
	if err != nil {
		return fmt.Errorf("seal: check the session sees every ledger row: %w", err)
	}
	if !whole {
		return ErrPartialView
	}
	return nil
}

// rollback rolls tx back even when ctx was cancelled; after a commit it is
// a no-op.
func rollback(ctx context.Context, tx pgx.Tx) {
	_ = txutil.Rollback(ctx, tx)
}

func hashOf(b []byte) canon.Hash {
	var h canon.Hash
	copy(h[:], b)
	return h
}
