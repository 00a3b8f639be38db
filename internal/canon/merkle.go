package canon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// HashSize is the size of every hash of the encoding (SHA-256).
const HashSize = sha256.Size

// Hash is a SHA-256 leaf, node, root or seal hash.
type Hash [HashSize]byte

// String returns the hash in lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != HashSize {
		return h, fmt.Errorf("canon: %q is not a %d-byte hex hash", s, HashSize)
	}
	copy(h[:], b)
	return h, nil
}

// Domain-separation prefixes of RFC 6962, section 2.1.
const (
	leafPrefix = 0x00
	nodePrefix = 0x01
)

// EmptyRoot is the root of a tree without leaves: SHA-256 of no bytes.
var EmptyRoot = Hash(sha256.Sum256(nil))

// LeafHash returns SHA-256(0x00 || leafData).
func LeafHash(leafData []byte) Hash {
	h := sha256.New()
	h.Write([]byte{leafPrefix})
	h.Write(leafData)
	var out Hash
	h.Sum(out[:0])
	return out
}

// NodeHash returns SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var buf [1 + 2*HashSize]byte
	buf[0] = nodePrefix
	copy(buf[1:], left[:])
	copy(buf[1+HashSize:], right[:])
	return sha256.Sum256(buf[:])
}

// Tree computes the Merkle tree hash (RFC 6962 MTH) of a stream of leaf
// hashes, keeping one hash per set bit of the leaf count: O(log n) memory
// for any number of leaves. The zero value is an empty tree.
type Tree struct {
	// stack holds the roots of the complete subtrees the leaves so far
	// decompose into, largest (leftmost) first; their sizes are the set
	// bits of size, from the highest down.
	stack []Hash
	size  uint64
}

// Add appends one leaf hash.
func (t *Tree) Add(leaf Hash) {
	t.size++
	t.stack = append(t.stack, leaf)
	// Each trailing zero bit of the new size is a pair of equal complete
	// subtrees on top of the stack: merge them.
	for n := t.size; n&1 == 0; n >>= 1 {
		last := len(t.stack) - 1
		t.stack[last-1] = NodeHash(t.stack[last-1], t.stack[last])
		t.stack = t.stack[:last]
	}
}

// Size returns the number of leaves added.
func (t *Tree) Size() uint64 { return t.size }

// Root returns the Merkle tree hash of the leaves added so far. The tree
// stays usable: more leaves may be added afterwards.
func (t *Tree) Root() Hash {
	if len(t.stack) == 0 {
		return EmptyRoot
	}
	// MTH splits at the largest power of two below n, so the complete
	// subtrees combine right to left.
	root := t.stack[len(t.stack)-1]
	for i := len(t.stack) - 2; i >= 0; i-- {
		root = NodeHash(t.stack[i], root)
	}
	return root
}

// RootOf returns the Merkle tree hash of leaves.
func RootOf(leaves []Hash) Hash {
	var t Tree
	for _, l := range leaves {
		t.Add(l)
	}
	return t.Root()
}

// ErrProof is returned (wrapped) when an inclusion proof does not lead to
// the expected root, or its index and size are inconsistent.
var ErrProof = errors.New("canon: inclusion proof does not verify")

// span is a half-open range of leaf positions.
type span struct{ from, to uint64 }

// pathSpans returns the leaf ranges whose subtree hashes make the audit
// path of leaf m in a tree of n leaves (RFC 6962 PATH(m, D[n])), in path
// order: from the leaf's sibling up to the root's other child.
func pathSpans(m, n uint64) []span {
	var spans []span
	from, to := uint64(0), n
	for to-from > 1 {
		k := largestPowerOfTwoBelow(to - from)
		if m-from < k {
			spans = append(spans, span{from + k, to})
			to = from + k
		} else {
			spans = append(spans, span{from, from + k})
			from += k
		}
	}
	// Collected from the root down; the path lists them from the leaf up.
	for i, j := 0, len(spans)-1; i < j; i, j = i+1, j-1 {
		spans[i], spans[j] = spans[j], spans[i]
	}
	return spans
}

// largestPowerOfTwoBelow returns the largest power of two strictly less
// than n, for n >= 2.
func largestPowerOfTwoBelow(n uint64) uint64 {
	return 1 << (bits.Len64(n-1) - 1)
}

// PathBuilder computes the audit path of one leaf from the stream of all
// leaf hashes of a tree, in one pass and O(log n) memory: every path entry
// is the root of a contiguous range of leaves, computed with a [Tree] while
// the range streams by.
type PathBuilder struct {
	index, size uint64
	spans       []span
	trees       []Tree
	leaf        Hash
	next        uint64
}

// NewPathBuilder prepares the audit path of leaf index in a tree of size
// leaves.
func NewPathBuilder(index, size uint64) (*PathBuilder, error) {
	if index >= size {
		return nil, fmt.Errorf("canon: leaf index %d outside a tree of %d leaves", index, size)
	}
	spans := pathSpans(index, size)
	return &PathBuilder{index: index, size: size, spans: spans, trees: make([]Tree, len(spans))}, nil
}

// Add takes the next leaf hash of the tree, in order.
func (p *PathBuilder) Add(leaf Hash) {
	i := p.next
	p.next++
	if i == p.index {
		p.leaf = leaf
		return
	}
	for s := range p.spans {
		if i >= p.spans[s].from && i < p.spans[s].to {
			p.trees[s].Add(leaf)
			return
		}
	}
}

// Path returns the leaf's hash and audit path once every leaf was added.
func (p *PathBuilder) Path() (Hash, []Hash, error) {
	if p.next != p.size {
		return Hash{}, nil, fmt.Errorf("canon: audit path needs %d leaves, got %d", p.size, p.next)
	}
	path := make([]Hash, len(p.trees))
	for i := range p.trees {
		path[i] = p.trees[i].Root()
	}
	return p.leaf, path, nil
}

// AuditPath returns the audit path of leaf index in the tree of leaves.
func AuditPath(leaves []Hash, index uint64) ([]Hash, error) {
	p, err := NewPathBuilder(index, uint64(len(leaves)))
	if err != nil {
		return nil, err
	}
	for _, l := range leaves {
		p.Add(l)
	}
	_, path, err := p.Path()
	return path, err
}

// RootFromPath returns the root that leaf, at index in a tree of size
// leaves, and its audit path lead to (RFC 9162, section 2.1.3.2).
func RootFromPath(leaf Hash, index, size uint64, path []Hash) (Hash, error) {
	if index >= size {
		return Hash{}, fmt.Errorf("%w: leaf index %d outside a tree of %d leaves", ErrProof, index, size)
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range path {
		if sn == 0 {
			return Hash{}, fmt.Errorf("%w: audit path longer than the tree is deep", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return Hash{}, fmt.Errorf("%w: audit path shorter than the tree is deep", ErrProof)
	}
	return r, nil
}

// VerifyInclusion checks that leaf is at index in the tree of size leaves
// whose root is root, given its audit path. It returns nil or an error
// wrapping [ErrProof].
func VerifyInclusion(leaf Hash, index, size uint64, path []Hash, root Hash) error {
	got, err := RootFromPath(leaf, index, size, path)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("%w: path leads to root %s, want %s", ErrProof, got, root)
	}
	return nil
}
