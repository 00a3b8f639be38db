package seal

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/racledger/racledger/db"
	"github.com/racledger/racledger/internal/canon"
	"github.com/racledger/racledger/internal/evidence"
)

// ProofVersion is the version of the Proof JSON layout.
const ProofVersion = 1

// ErrNotSealed is returned (wrapped) by Prove for a row that exists but
// whose transaction no seal covers yet.
var ErrNotSealed = errors.New("seal: row not sealed yet")

// ErrRowNotFound is returned (wrapped) by Prove for a row that does not
// exist.
var ErrRowNotFound = errors.New("seal: no such row")

// Proof is an inclusion proof of one ledger row in a seal, checkable
// offline with VerifyProof. Hashes are lower-case hex.
type Proof struct {
	Version   int      `json:"version"`
	Table     string   `json:"table"`
	RowID     int64    `json:"row_id"`
	LeafData  string   `json:"leaf_data"`
	LeafHash  string   `json:"leaf_hash"`
	LeafIndex uint64   `json:"leaf_index"`
	TreeSize  uint64   `json:"tree_size"`
	AuditPath []string `json:"audit_path"`
	Seal      SealJSON `json:"seal"`
	// Chain holds the seals after Seal, in order, up to the head the proof
	// was made against, so that it can be checked against a head published
	// after the row's seal: each links to the one before by prev_hash.
	Chain []SealJSON `json:"chain,omitempty"`
}

// SealJSON is every column of a rac.seals row, enough to recompute its
// seal_hash.
type SealJSON struct {
	ID          int64   `json:"id"`
	Version     int16   `json:"version"`
	HorizonFrom int64   `json:"horizon_from"`
	HorizonTo   int64   `json:"horizon_to"`
	RowCounts   []int64 `json:"row_counts"`
	MerkleRoot  string  `json:"merkle_root"`
	PrevHash    string  `json:"prev_hash"`
	// SealedAtMicros is sealed_at in microseconds since the Unix epoch, the
	// exact value the seal hash covers; SealedAt is the same, for people.
	SealedAtMicros int64  `json:"sealed_at_us"`
	SealedAt       string `json:"sealed_at"`
	SealHash       string `json:"seal_hash"`
}

// Prove builds the inclusion proof of row id of table (a name accepted by
// canon.Lookup), chained to the latest seal: ProveThrough with through 0.
func Prove(ctx context.Context, pool *pgxpool.Pool, table string, id int64) (*Proof, error) {
	return ProveThrough(ctx, pool, table, id, 0)
}

// ProveThrough builds the inclusion proof of row id of table (a name
// accepted by canon.Lookup) in its seal, with the chain of seals after it
// up to seal through (0: the latest), so the proof can be checked against
// the hash of any of them. It streams the seal's window once, in one
// REPEATABLE READ READ ONLY transaction, and refuses to prove against a
// seal the rows no longer match (run Verify).
func ProveThrough(ctx context.Context, pool *pgxpool.Pool, table string, id int64, through int64) (*Proof, error) {
	tbl, tblIndex, err := canon.Lookup(table)
	if err != nil {
		return nil, err
	}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("prove: begin: %w", err)
	}
	defer rollback(ctx, tx)
	if err := seesWholeLedger(ctx, tx); err != nil {
		return nil, fmt.Errorf("prove: %w", err)
	}
	src, err := evidence.Detect(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("prove: %w", err)
	}

	var txID int64
	err = tx.QueryRow(ctx, "SELECT tx_id FROM "+tbl.Relation(src)+" WHERE id = $1", id).Scan(&txID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s id %d", ErrRowNotFound, tbl.Stem, id)
	}
	if err != nil {
		return nil, fmt.Errorf("prove: read %s id %d: %w", tbl.Stem, id, err)
	}
	s, err := evidence.SealCovering(ctx, tx, src, txID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s id %d (tx %d)", ErrNotSealed, tbl.Stem, id, txID)
	}
	if err != nil {
		return nil, fmt.Errorf("prove: find the seal of tx %d: %w", txID, err)
	}
	if through != 0 && through < s.ID {
		return nil, fmt.Errorf("%w: %s id %d is in seal %d, after seal %d", ErrNotSealed, tbl.Stem, id, s.ID, through)
	}
	hdr := headerOf(&s)
	if len(hdr.RowCounts) != len(canon.Tables) {
		return nil, fmt.Errorf("prove: seal %d has %d row counts (run rac verify)", s.ID, len(hdr.RowCounts))
	}

	// The leaf index: the rows of the tables before this one, plus this
	// table's rows of the window with a smaller id.
	index := hdr.Offset(tblIndex)
	var before int64
	err = tx.QueryRow(ctx, "SELECT count(*) FROM "+tbl.Relation(src)+" WHERE tx_id >= $1 AND tx_id < $2 AND id < $3",
		hdr.HorizonFrom, hdr.HorizonTo, id).Scan(&before)
	if err != nil {
		return nil, fmt.Errorf("prove: position of %s id %d: %w", tbl.Stem, id, err)
	}
	index += uint64(before)
	size := hdr.TreeSize()
	pb, err := canon.NewPathBuilder(index, size)
	if err != nil {
		return nil, fmt.Errorf("prove: seal %d does not match the rows (run rac verify): %w", s.ID, err)
	}

	w, err := streamWindow(ctx, tx, src, "prove_rows", hdr.Version, hdr.HorizonFrom, hdr.HorizonTo, rowKey{table: tblIndex, id: id},
		func(_ int, batch []leafRow) error {
			for _, r := range batch {
				pb.Add(r.hash)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("prove: %w", err)
	}
	if w.tree.Size() != size || w.tree.Root() != hdr.MerkleRoot {
		return nil, fmt.Errorf("prove: seal %d does not match the rows (run rac verify)", s.ID)
	}
	leafData := w.kept
	leaf, path, err := pb.Path()
	if err != nil {
		return nil, fmt.Errorf("prove: %w", err)
	}
	if leafData == nil || canon.LeafHash(leafData) != leaf {
		return nil, fmt.Errorf("prove: %s id %d is not at leaf %d of seal %d", tbl.Stem, id, index, s.ID)
	}
	p := &Proof{
		Version: ProofVersion, Table: tbl.Stem, RowID: id,
		LeafData: hex.EncodeToString(leafData), LeafHash: leaf.String(),
		LeafIndex: index, TreeSize: size, AuditPath: make([]string, len(path)),
		Seal: sealJSON(&s),
	}
	for i, h := range path {
		p.AuditPath[i] = h.String()
	}
	for after := s.ID; through == 0 || after < through; {
		next, err := evidence.SealNext(ctx, tx, src, after)
		if errors.Is(err, pgx.ErrNoRows) {
			if through != 0 {
				return nil, fmt.Errorf("prove: no seal %d: the chain ends at seal %d", through, after)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("prove: read seal after %d: %w", after, err)
		}
		p.Chain = append(p.Chain, sealJSON(&next))
		after = next.ID
	}
	return p, nil
}

// sealJSON returns every column of s for a proof.
func sealJSON(s *db.RacSeal) SealJSON {
	return SealJSON{
		ID: s.ID, Version: s.Version, HorizonFrom: s.HorizonFrom, HorizonTo: s.HorizonTo,
		RowCounts: s.RowCounts, MerkleRoot: hex.EncodeToString(s.MerkleRoot), PrevHash: hex.EncodeToString(s.PrevHash),
		SealedAtMicros: s.SealedAt.UnixMicro(), SealedAt: s.SealedAt.UTC().Format(time.RFC3339Nano),
		SealHash: hex.EncodeToString(s.SealHash),
	}
}

// header returns the seal's fields as canon hashes them and its stated
// seal_hash, after checking that the fields hash to it.
func (s *SealJSON) header() (canon.SealHeader, canon.Hash, error) {
	hdr, err := canon.ParseSealHeader(canon.SealHeader{
		ID: s.ID, Version: s.Version, HorizonFrom: s.HorizonFrom, HorizonTo: s.HorizonTo,
		RowCounts: s.RowCounts, SealedAt: time.UnixMicro(s.SealedAtMicros),
	}, s.MerkleRoot, s.PrevHash)
	if err != nil {
		return hdr, canon.Hash{}, err
	}
	hash, err := canon.ParseHash(s.SealHash)
	if err != nil {
		return hdr, canon.Hash{}, fmt.Errorf("seal_hash: %w", err)
	}
	return hdr, hash, hdr.Check(hash)
}

// ErrBadProof is returned (wrapped) by VerifyProof for a proof that does
// not hold: altered leaf, path, seal fields, or a seal that is not the
// published head.
var ErrBadProof = errors.New("seal: proof does not verify")

// VerifyProof checks p offline: the leaf data names p's table and row, its
// leaf hash leads through the audit path to the seal's Merkle root at a
// position inside the table's range of the seal, the seal's fields hash to
// its seal_hash, and every seal of p.Chain hashes to its own and links to
// the one before. With head, a hash published elsewhere, the seal or one of
// the chain must be that head.
func VerifyProof(p *Proof, head *canon.Hash) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadProof, fmt.Sprintf(format, args...))
	}
	if p.Version != ProofVersion {
		return bad("proof version %d, want %d", p.Version, ProofVersion)
	}
	tbl, tblIndex, err := canon.Lookup(p.Table)
	if err != nil {
		return bad("%v", err)
	}
	data, err := hex.DecodeString(p.LeafData)
	if err != nil {
		return bad("leaf_data is not hex")
	}
	if err := checkLeafNames(data, p.Seal.Version, tbl.Stem, p.RowID); err != nil {
		return bad("%v", err)
	}
	leaf := canon.LeafHash(data)
	if p.LeafHash != "" && p.LeafHash != leaf.String() {
		return bad("leaf_data hashes to %s, leaf_hash says %s", leaf, p.LeafHash)
	}
	hdr, sealHash, err := p.Seal.header()
	if err != nil {
		return bad("seal %d: %v", p.Seal.ID, err)
	}
	if hdr.TreeSize() != p.TreeSize {
		return bad("tree_size %d, the seal's row counts add up to %d", p.TreeSize, hdr.TreeSize())
	}
	lo := hdr.Offset(tblIndex)
	if p.LeafIndex < lo || p.LeafIndex >= lo+uint64(hdr.RowCounts[tblIndex]) {
		return bad("leaf_index %d lies outside the %s rows of the seal", p.LeafIndex, tbl.Stem)
	}
	path := make([]canon.Hash, len(p.AuditPath))
	for i, s := range p.AuditPath {
		if path[i], err = canon.ParseHash(s); err != nil {
			return bad("audit_path[%d]: %v", i, err)
		}
	}
	if err := canon.VerifyInclusion(leaf, p.LeafIndex, p.TreeSize, path, hdr.MerkleRoot); err != nil {
		return fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	// The chain: each later seal hashes to its seal_hash and links to the
	// one before; a published head may be any of them.
	headFound := head != nil && *head == sealHash
	prev, prevHash := hdr, sealHash
	for i := range p.Chain {
		c := &p.Chain[i]
		next, nextHash, err := c.header()
		if err != nil {
			return bad("chain seal %d: %v", c.ID, err)
		}
		if next.ID != prev.ID+1 || next.HorizonFrom != prev.HorizonTo || next.PrevHash != prevHash {
			return bad("chain seal %d does not follow seal %d (id, horizon_from or prev_hash)", next.ID, prev.ID)
		}
		headFound = headFound || (head != nil && *head == nextHash)
		prev, prevHash = next, nextHash
	}
	if head != nil && !headFound {
		return bad("the published head %s is neither seal %d nor a seal of the proof's chain (seals %d..%d)",
			head, hdr.ID, hdr.ID, prev.ID)
	}
	return nil
}

// checkLeafNames checks that leaf data starts with the encoding version of
// its seal, the table's stem and the row's id.
func checkLeafNames(data []byte, version int16, stem string, id int64) error {
	if version < canon.FirstVersion || version > canon.Version {
		return fmt.Errorf("seal encoding version %d: this rac reads versions %d to %d", version, canon.FirstVersion, canon.Version)
	}
	if !bytes.HasPrefix(data, canon.LeafPrefixAt(version, stem, id)) {
		return fmt.Errorf("leaf_data is not version %d row %s id %d", version, stem, id)
	}
	return nil
}
