package local

import (
	"testing"

	"github.com/imgx/imgx/transport"
)

// FuzzParseIndex: whatever a NAME.volumes on a carrier holds, an accepted index names
// exactly NAME.001, NAME.002, ... in order (plain names inside the set's directory) with
// sizes that add up.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"version":1,"size":3,"split_size":2,"volumes":[{"name":"b.imgx.001","size":2,"sha256":"` + zeros + `"},{"name":"b.imgx.002","size":1,"sha256":"` + zeros + `"}]}`))
	f.Add([]byte(`{"version":1,"size":1,"volumes":[{"name":"../../etc/passwd","size":1,"sha256":"` + zeros + `"}]}`))
	f.Add([]byte(`{"version":1,"size":-1,"volumes":[{"name":"b.imgx.001","size":-1,"sha256":"` + zeros + `"}]}`))
	f.Add([]byte(`{"version":1,"size":0,"volumes":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := parseIndex(data, "b.imgx", "b.imgx.volumes")
		if err != nil {
			return
		}
		var total int64
		for i, v := range idx.Volumes {
			if v.Name != VolumeName("b.imgx", i+1) || transport.CheckEntryName(v.Name) != nil {
				t.Fatalf("accepted volume %d named %q", i+1, v.Name)
			}
			if v.Size < 0 {
				t.Fatalf("accepted size %d", v.Size)
			}
			total += v.Size
		}
		if total != idx.Size || len(idx.Volumes) == 0 {
			t.Fatalf("accepted %d volumes adding up to %d, index says %d", len(idx.Volumes), total, idx.Size)
		}
	})
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
