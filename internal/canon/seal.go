package canon

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// sealPrefix separates seal hashes from leaf (0x00) and node (0x01) hashes.
const sealPrefix = 0x02

// sealLayout is the version of the layout of Bytes (not of the rows'
// encoding, which is the header's Version field).
const sealLayout = 0x01

// SealHeader is every column of a rac.seals row except seal_hash, which is
// [SealHeader.Hash] of it.
type SealHeader struct {
	// ID is the seal's position in the chain, from 1.
	ID int64
	// Version is the canonical encoding version of the sealed rows.
	Version int16
	// HorizonFrom and HorizonTo bound the sealed tx_id window,
	// [HorizonFrom, HorizonTo).
	HorizonFrom, HorizonTo int64
	// RowCounts holds the number of sealed rows per table, in [Tables]
	// order; their sum is the Merkle tree's size.
	RowCounts []int64
	// MerkleRoot is the RFC 6962 root over the sealed rows' leaves.
	MerkleRoot Hash
	// PrevHash is the previous seal's hash; all zeros for seal 1.
	PrevHash Hash
	// SealedAt is when the seal was made (microsecond precision).
	SealedAt time.Time
}

// TreeSize returns the number of leaves of the seal's Merkle tree.
func (s SealHeader) TreeSize() uint64 {
	var n uint64
	for _, c := range s.RowCounts {
		n += uint64(c)
	}
	return n
}

// Offset returns the leaf index of the first row of Tables[table] in the
// seal's Merkle tree: the number of rows of the tables before it.
func (s SealHeader) Offset(table int) uint64 {
	var n uint64
	for _, c := range s.RowCounts[:table] {
		n += uint64(c)
	}
	return n
}

// ParseSealHeader returns fields with MerkleRoot and PrevHash parsed from
// merkleRoot and prevHash, lower-case hex as proofs and exports carry them.
// The hashes of fields are ignored.
func ParseSealHeader(fields SealHeader, merkleRoot, prevHash string) (SealHeader, error) {
	var err error
	if fields.MerkleRoot, err = ParseHash(merkleRoot); err != nil {
		return fields, fmt.Errorf("merkle_root: %w", err)
	}
	if fields.PrevHash, err = ParseHash(prevHash); err != nil {
		return fields, fmt.Errorf("prev_hash: %w", err)
	}
	return fields, nil
}

// Check returns an error unless s has one row count per table of [Tables]
// and hashes to sealHash, the seal's stated seal_hash.
func (s SealHeader) Check(sealHash Hash) error {
	if len(s.RowCounts) != len(Tables) {
		return fmt.Errorf("%d row counts for %d tables", len(s.RowCounts), len(Tables))
	}
	if got := s.Hash(); got != sealHash {
		return fmt.Errorf("its fields hash to %s, seal_hash says %s", got, sealHash)
	}
	return nil
}

// Bytes returns the seal data that Hash covers:
//
//	0x01 (version of this layout) || text("seal") || int8(id) || int2(version)
//	|| int8(horizon_from) || int8(horizon_to) || int8(len(row_counts))
//	|| int8(count) ... || merkle_root (32) || prev_hash (32)
//	|| int8(sealed_at, microseconds since the Unix epoch)
//
// with integers big-endian (int2: 2 bytes, int8: 8 bytes) and text as in
// leaf data.
func (s SealHeader) Bytes() []byte {
	b := make([]byte, 0, 128+8*len(s.RowCounts))
	b = append(b, sealLayout)
	b = appendText(b, "seal")
	b = binary.BigEndian.AppendUint64(b, uint64(s.ID))
	b = binary.BigEndian.AppendUint16(b, uint16(s.Version))
	b = binary.BigEndian.AppendUint64(b, uint64(s.HorizonFrom))
	b = binary.BigEndian.AppendUint64(b, uint64(s.HorizonTo))
	b = binary.BigEndian.AppendUint64(b, uint64(len(s.RowCounts)))
	for _, c := range s.RowCounts {
		b = binary.BigEndian.AppendUint64(b, uint64(c))
	}
	b = append(b, s.MerkleRoot[:]...)
	b = append(b, s.PrevHash[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(s.SealedAt.UnixMicro()))
}

// Hash returns the seal hash, SHA-256(0x02 || Bytes()).
func (s SealHeader) Hash() Hash {
	return sha256.Sum256(append([]byte{sealPrefix}, s.Bytes()...))
}
