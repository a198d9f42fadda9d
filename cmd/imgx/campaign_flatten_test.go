package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestCampaignSaveFlatten kills `imgx save --flatten -o DIR/NAME` at random byte offsets of
// the bundle. The flattened images exist only in the bundle, so every kill leaves the
// sender's store byte-identical (saveCampaign checks its tree hash, and that `imgx check`
// is clean), and the re-run resumes the partial file: flattening gives the same bytes.
func TestCampaignSaveFlatten(t *testing.T) {
	c := newCampaign(t, "save --flatten to a local directory")
	snd := newCampaignSender(t, c, 2, 3, 1<<20, false)
	dir := filepath.Join(t.TempDir(), "usb")
	os.Mkdir(dir, 0o755)
	file := func(i int) string { return filepath.Join(dir, fmt.Sprintf("flat%d.imgx", i+1)) }
	resumed, partial := saveCampaign(t, c, snd, []string{"--flatten"}, file, file, true, func() {}, func() {})
	if resumed != partial {
		t.Errorf("the re-runs resumed %d bytes of the %d the kills left", resumed, partial)
	}
}
