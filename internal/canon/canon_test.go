package canon_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/racledger/racledger/internal/canon"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// The leaves and roots of the RFC 6962 reference test vectors (the eight
// leaves used by Certificate Transparency implementations): the root of
// the first n leaves, for n = 1..8.
var rfcLeaves = []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}

var rfcRoots = []string{
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

func TestEmptyRoot(t *testing.T) {
	t.Parallel()
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", canon.EmptyRoot.String())
	var tr canon.Tree
	require.Equal(t, canon.EmptyRoot, tr.Root())
}

func TestRootMatchesRFC6962Vectors(t *testing.T) {
	t.Parallel()
	var tr canon.Tree
	for i, l := range rfcLeaves {
		tr.Add(canon.LeafHash(unhex(t, l)))
		require.Equal(t, rfcRoots[i], tr.Root().String(), "root of %d leaves", i+1)
	}
}

func TestHashesAreDomainSeparated(t *testing.T) {
	t.Parallel()
	a, b := canon.LeafHash([]byte("a")), canon.LeafHash([]byte("b"))
	// Hand computed: the prefixes are part of the hashed bytes.
	require.Equal(t, canon.Hash(sha256.Sum256([]byte("\x00a"))), a)
	require.Equal(t, canon.Hash(sha256.Sum256(append(append([]byte{1}, a[:]...), b[:]...))), canon.NodeHash(a, b))
	// A node is never a leaf of the same bytes.
	require.NotEqual(t, canon.LeafHash(append(a[:], b[:]...)), canon.NodeHash(a, b))
	// Hand computed three-leaf tree: node(node(a, b), c).
	c := canon.LeafHash([]byte("c"))
	require.Equal(t, canon.NodeHash(canon.NodeHash(a, b), c), canon.RootOf([]canon.Hash{a, b, c}))
}

// mth is the recursive definition of RFC 6962 section 2.1, the reference
// the streaming Tree must match.
func mth(leaves []canon.Hash) canon.Hash {
	switch len(leaves) {
	case 0:
		return canon.EmptyRoot
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return canon.NodeHash(mth(leaves[:k]), mth(leaves[k:]))
}

// path is the recursive definition of PATH(m, D[n]).
func path(m int, leaves []canon.Hash) []canon.Hash {
	if len(leaves) <= 1 {
		return []canon.Hash{}
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	if m < k {
		return append(path(m, leaves[:k]), mth(leaves[k:]))
	}
	return append(path(m-k, leaves[k:]), mth(leaves[:k]))
}

func leavesN(n int) []canon.Hash {
	out := make([]canon.Hash, n)
	for i := range out {
		out[i] = canon.LeafHash([]byte(fmt.Sprint(i)))
	}
	return out
}

func TestTreeAndPathsMatchTheRecursiveDefinition(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 70; n++ {
		leaves := leavesN(n)
		root := canon.RootOf(leaves)
		require.Equal(t, mth(leaves), root, "root of %d", n)
		for m := 0; m < n; m++ {
			p, err := canon.AuditPath(leaves, uint64(m))
			require.NoError(t, err)
			require.Equal(t, path(m, leaves), p, "path of %d in %d", m, n)
			require.NoError(t, canon.VerifyInclusion(leaves[m], uint64(m), uint64(n), p, root))
		}
	}
}

func TestInclusionProofFailsForAlteredInput(t *testing.T) {
	t.Parallel()
	leaves := leavesN(13)
	root := canon.RootOf(leaves)
	p, err := canon.AuditPath(leaves, 6)
	require.NoError(t, err)
	require.NoError(t, canon.VerifyInclusion(leaves[6], 6, 13, p, root))

	cases := map[string]func() error{
		"altered leaf":  func() error { return canon.VerifyInclusion(canon.LeafHash([]byte("x")), 6, 13, p, root) },
		"wrong index":   func() error { return canon.VerifyInclusion(leaves[6], 7, 13, p, root) },
		"wrong size":    func() error { return canon.VerifyInclusion(leaves[6], 6, 1000, p, root) },
		"short path":    func() error { return canon.VerifyInclusion(leaves[6], 6, 13, p[:len(p)-1], root) },
		"long path":     func() error { return canon.VerifyInclusion(leaves[6], 6, 13, append(p, root), root) },
		"index >= size": func() error { return canon.VerifyInclusion(leaves[6], 13, 13, p, root) },
		"altered path": func() error {
			q := append([]canon.Hash(nil), p...)
			q[1][0] ^= 1
			return canon.VerifyInclusion(leaves[6], 6, 13, q, root)
		},
	}
	for name, check := range cases {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, check(), canon.ErrProof)
		})
	}
}

func TestPathBuilderNeedsEveryLeaf(t *testing.T) {
	t.Parallel()
	_, err := canon.NewPathBuilder(3, 3)
	require.Error(t, err)
	p, err := canon.NewPathBuilder(0, 3)
	require.NoError(t, err)
	p.Add(canon.LeafHash(nil))
	_, _, err = p.Path()
	require.Error(t, err)
}

func TestEncodeLeafAck(t *testing.T) {
	t.Parallel()
	run := uuid.MustParse("00112233-4455-6677-8899-aabbccddeeff")
	at := time.Date(2024, 1, 2, 3, 4, 5, 678000, time.UTC)
	values := []any{
		int64(7), int64(1000), "default", run, "incidents", "create_incident", at,
		"inc-42", nil, nil, `{"a": 1}`, "incidents_svc",
	}
	got, err := canon.EncodeLeaf("acks", values)
	require.NoError(t, err)

	// Hand-assembled from docs/canonical-encoding.md.
	body := func() *bytes.Buffer {
		var b bytes.Buffer
		b.Write(unhex(t, "00000004"))
		b.WriteString("acks")                      // table
		b.Write(unhex(t, "01"+"0000000000000007")) // id
		b.Write(unhex(t, "01"+"00000000000003e8")) // tx_id
		b.Write(unhex(t, "01"+"00000007"))
		b.WriteString("default")
		b.Write(unhex(t, "01"+"00112233445566778899aabbccddeeff"))
		b.Write(unhex(t, "01"+"00000009"))
		b.WriteString("incidents")
		b.Write(unhex(t, "01"+"0000000f"))
		b.WriteString("create_incident")
		b.WriteByte(1)
		b.Write(unhex(t, fmt.Sprintf("%016x", at.UnixMicro())))
		b.Write(unhex(t, "01"+"00000006"))
		b.WriteString("inc-42")
		b.Write([]byte{0, 0}) // idempotency_key, error: NULL
		b.Write(unhex(t, "01"+"00000008"))
		b.WriteString(`{"a": 1}`)
		return &b
	}
	v2 := append([]byte{2}, body().Bytes()...)
	v2 = append(v2, unhex(t, "01"+"0000000d")...)
	v2 = append(v2, "incidents_svc"...)
	require.Equal(t, v2, got)
	require.Equal(t, int64(1704164645000678), at.UnixMicro())
	require.Equal(t, v2[:1+4+4+1+8], canon.LeafPrefix("acks", 7))

	// Version 1, as seals made before authors were recorded: no author.
	tbl, _, err := canon.Lookup("acks")
	require.NoError(t, err)
	got1, err := tbl.AppendLeafAt(nil, 1, values)
	require.NoError(t, err)
	v1 := append([]byte{1}, body().Bytes()...)
	require.Equal(t, v1, got1)
	require.Equal(t, v1[:1+4+4+1+8], canon.LeafPrefixAt(1, "acks", 7))
	_, err = tbl.AppendLeafAt(nil, 3, values)
	require.ErrorIs(t, err, canon.ErrEncode)
}

func TestEncodeLeafTypes(t *testing.T) {
	t.Parallel()
	tbl, idx, err := canon.Lookup("rac.reconciliations")
	require.NoError(t, err)
	require.Equal(t, 5, idx)
	require.Equal(t, "reconciliations", tbl.Stem)
	ts := time.Unix(-1, 0).UTC() // before the epoch: negative, two's complement
	vals := []any{int64(1), int64(2), [16]byte{1}, int32(3), true, "pass", int64(0), int64(9), ts, ts, ts,
		int64(0), int16(1), 0, int64(0), int64(0), ts, ts, "me"}
	b, err := tbl.EncodeLeaf(vals)
	require.NoError(t, err)
	require.Contains(t, string(b), "\x01\xff\xff\xff\xff\xff\xf0\xbd\xc0") // -1,000,000 µs

	bad := map[string][]any{
		"too few values":  vals[:3],
		"string for int8": append([]any{"1"}, vals[1:]...),
		"int for bool":    append(append(append([]any{}, vals[:4]...), 1), vals[5:]...),
		"nanoseconds":     append(append(append([]any{}, vals[:8]...), ts.Add(time.Nanosecond)), vals[9:]...),
	}
	for name, v := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := tbl.EncodeLeaf(v)
			require.True(t, errors.Is(err, canon.ErrEncode), "%v", err)
		})
	}
	_, _, err = canon.Lookup("nope")
	require.Error(t, err)
}

func TestTablesAreTheDocumentedOnes(t *testing.T) {
	t.Parallel()
	var stems []string
	for _, tb := range canon.Tables {
		stems = append(stems, tb.Stem)
		require.Equal(t, "id", tb.Columns[0].Name)
		require.Equal(t, "tx_id", tb.Columns[1].Name)
		require.Contains(t, tb.Select, "ORDER BY x.id")
		require.Equal(t, tb.SelectWhere("x.tx_id >= $1 AND x.tx_id < $2"), tb.Select)
	}
	require.Equal(t, []string{"expectations", "acks", "findings", "resolutions", "verdicts", "reconciliations"}, stems)

	// The table of docs/canonical-encoding.md, row by row: table, stem and
	// every column's name, type and NULL-ability, in order.
	doc, err := os.ReadFile("../../docs/canonical-encoding.md")
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| (\\d+) \\| `([^`]+)` \\| `([^`]+)` \\| (.+) \\|$")
	var documented []canon.Table
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		require.Equal(t, strconv.Itoa(len(documented)+1), m[1], "tables numbered in seal order")
		tb := canon.Table{Name: m[2], Stem: m[3]}
		for _, col := range strings.Split(m[4], ", ") {
			f := strings.Fields(col)
			require.True(t, len(f) == 2 || len(f) == 3 && f[2] == "NULL", "column %q of %s", col, tb.Name)
			tb.Columns = append(tb.Columns, canon.Column{Name: f[0], Type: canon.Type(f[1]), Nullable: len(f) == 3})
		}
		documented = append(documented, tb)
	}
	require.Len(t, documented, len(canon.Tables))
	for i, tb := range canon.Tables {
		require.Equal(t, documented[i].Name, tb.Name)
		require.Equal(t, documented[i].Stem, tb.Stem)
		var cols []canon.Column
		for _, c := range tb.Columns {
			c.Since = 0 // the page names version 2's columns in its text
			cols = append(cols, c)
		}
		require.Equal(t, documented[i].Columns, cols, tb.Name)
	}

	// Version 1 is version 2 without the author columns.
	v1, err := canon.TablesAt(1)
	require.NoError(t, err)
	for i, tb := range v1 {
		require.Equal(t, int16(1), tb.Version)
		var want []string
		for _, c := range canon.Tables[i].Columns {
			if c.Name != "author" {
				want = append(want, c.Name)
			}
		}
		require.Equal(t, want, tb.ColumnNames(), tb.Name)
		require.NotContains(t, tb.Select, "rac.authors")
	}
	_, err = canon.TablesAt(3)
	require.Error(t, err)
}

func TestParseHash(t *testing.T) {
	t.Parallel()
	h, err := canon.ParseHash(canon.EmptyRoot.String())
	require.NoError(t, err)
	require.Equal(t, canon.EmptyRoot, h)
	_, err = canon.ParseHash("abc")
	require.Error(t, err)
}

func TestParseAndCheckSealHeader(t *testing.T) {
	t.Parallel()
	fields := canon.SealHeader{ID: 2, Version: canon.Version, HorizonFrom: 10, HorizonTo: 20,
		RowCounts: make([]int64, len(canon.Tables)), SealedAt: time.UnixMicro(1704164645000678)}
	root, prev := canon.LeafHash([]byte("root")), canon.LeafHash([]byte("prev"))
	hdr, err := canon.ParseSealHeader(fields, root.String(), prev.String())
	require.NoError(t, err)
	require.Equal(t, root, hdr.MerkleRoot)
	require.Equal(t, prev, hdr.PrevHash)
	require.NoError(t, hdr.Check(hdr.Hash()))

	t.Run("bad hex is refused", func(t *testing.T) {
		_, err := canon.ParseSealHeader(fields, "xyz", prev.String())
		require.ErrorContains(t, err, "merkle_root")
		_, err = canon.ParseSealHeader(fields, root.String(), prev.String()[2:])
		require.ErrorContains(t, err, "prev_hash")
	})
	t.Run("a changed field fails the check", func(t *testing.T) {
		changed := hdr
		changed.HorizonTo++
		require.ErrorContains(t, changed.Check(hdr.Hash()), "seal_hash says "+hdr.Hash().String())
	})
	t.Run("a row count per table is required", func(t *testing.T) {
		short := hdr
		short.RowCounts = short.RowCounts[1:]
		require.ErrorContains(t, short.Check(short.Hash()), "row counts")
	})
}

func TestSealHeaderOffset(t *testing.T) {
	t.Parallel()
	hdr := canon.SealHeader{RowCounts: []int64{1, 2, 3, 4, 5, 6}}
	var offsets []uint64
	for i := range len(hdr.RowCounts) + 1 {
		offsets = append(offsets, hdr.Offset(i))
	}
	require.Equal(t, []uint64{0, 1, 3, 6, 10, 15, 21}, offsets)
	require.Equal(t, hdr.TreeSize(), hdr.Offset(len(hdr.RowCounts)))
}

func TestSelectFromViews(t *testing.T) {
	t.Parallel()
	for v := int16(canon.FirstVersion); v <= canon.Version; v++ {
		tables, err := canon.TablesAt(v)
		require.NoError(t, err)
		for i := range tables {
			tb := &tables[i]
			require.Equal(t, tb.Select, tb.SelectIn(canon.FromTables, "x.tx_id >= $1 AND x.tx_id < $2"), "the tables' statement is unchanged")
			require.Equal(t, tb.Name, tb.Relation(canon.FromTables))
			require.Equal(t, "rac.audit_"+tb.Stem, tb.Relation(canon.FromViews))
			got := tb.SelectIn(canon.FromViews, "x.tx_id >= $1")
			// The view alone, every canonical column under its own name.
			require.Contains(t, got, "\nFROM rac.audit_"+tb.Stem+" x\nWHERE x.tx_id >= $1\nORDER BY x.id")
			require.NotContains(t, got, "JOIN")
			require.NotContains(t, got, tb.Name+" ")
			for _, c := range tb.Columns {
				require.Contains(t, got, "x."+c.Name, tb.Stem)
				require.Equal(t, "x."+c.Name, tb.Ref(canon.FromViews, c.Name))
			}
		}
	}
	acks, _, err := canon.Lookup("acks")
	require.NoError(t, err)
	require.Equal(t, "t.name", acks.Ref(canon.FromTables, "tenant"))
	require.Contains(t, acks.SelectIn(canon.FromViews, "true"), `x.tenant AS "tenant", x.run_id AS "run_id"`)
	require.Contains(t, acks.SelectIn(canon.FromViews, "true"), `x.metadata::text AS "metadata"`)
}
