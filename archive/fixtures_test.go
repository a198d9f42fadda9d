package archive

import (
	"context"
	"testing"
)

// Archives written by skopeo (testdata/archives/README.md says how) load with their name,
// image ID and, for oci-archive, manifest digest.
func TestRealFixtures(t *testing.T) {
	const (
		id  = "sha256:51d21f263095f18ed258a4207a7974978d5781fc9b936d5162abcb1279f14f6e"
		man = "sha256:5ce6bc86c7cdba30637af8af9ccc570140a165259325ffafe3d2f53ce852f033"
	)
	for _, c := range []struct {
		file   string
		format Format
	}{{"skopeo-docker.tar", FormatDockerArchive}, {"skopeo-oci.tar", FormatOCIArchive}} {
		s := newStore(t)
		res, err := LoadPath(context.Background(), s, "../testdata/archives/"+c.file, nil, LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if res.Format != c.format || len(res.Images) != 1 || res.Images[0].Name != "example/fixture:1" || res.Images[0].ID.String() != id {
			t.Errorf("%s: %s %+v", c.file, res.Format, res.Images)
		}
		if c.format == FormatOCIArchive && res.Images[0].Digest.String() != man {
			t.Errorf("%s: manifest %s, want %s", c.file, res.Images[0].Digest, man)
		}
		checkStore(t, s)
	}
}
