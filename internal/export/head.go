package export

import (
	"fmt"
	"strings"

	"github.com/racledger/racledger/internal/canon"
)

// CheckPublishedHead checks the export against published, a seal hash
// published outside the database (docs/tamper-evidence.md, "Publishing heads"): it
// must be the seal_hash of a seal the manifest lists, or of the manifest's
// seal_head. Verify has already checked that the listed seals hash to
// their seal_hash and that consecutive ones chain, so a match anchors the
// run of consecutive listed seals that ends at the matching one. It
// returns a line saying what the head anchors; when the export does not
// contain it, it records a problem instead (an export taken before the
// head was published cannot be anchored to it: use an older head).
func (r *Result) CheckPublishedHead(published canon.Hash) string {
	head := published.String()
	m := r.Manifest
	if m == nil {
		r.problem(ManifestName, "no manifest to check the published head %s against", head)
		return ""
	}
	byID := make(map[int64]bool, len(m.Seals))
	for _, s := range m.Seals {
		byID[s.ID] = true
	}
	for _, s := range m.Seals {
		if !strings.EqualFold(s.SealHash, head) {
			continue
		}
		first := s.ID
		for byID[first-1] {
			first--
		}
		return fmt.Sprintf("published head %s is seal %d: seals %d..%d of this export are anchored to it", head, s.ID, first, s.ID)
	}
	if m.SealHead != nil && strings.EqualFold(m.SealHead.SealHash, head) {
		return fmt.Sprintf("published head %s is this export's seal_head (seal %d), which lists no seal linked to it: "+
			"nothing in the export is anchored to it", head, m.SealHead.ID)
	}
	r.problem(ManifestName, "the published head %s is neither a listed seal nor the seal_head", head)
	return ""
}
