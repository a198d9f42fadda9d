package verify

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/imgx/imgx/internal/testserver"
)

// verify is linked into every imgx binary: keep cosign, sigstore-go, KMS
// clients and network stacks out of it (SIGNING.md: they add 19-130 MB).
func TestDependencies(t *testing.T) {
	goBin := testserver.HostTool(t, "go", "install Go 1.26 (https://go.dev/dl)")
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"net/http", "google.golang.org/grpc", "github.com/sigstore/cosign",
		"github.com/sigstore/sigstore-go", "github.com/sigstore/sigstore/pkg/signature/kms",
		"github.com/sigstore/rekor", "github.com/theupdateframework", "cloud.google.com",
		"github.com/aws", "github.com/Azure",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if pkg == f || strings.HasPrefix(pkg, f+"/") {
				t.Errorf("verify depends on %s", pkg)
			}
		}
	}
}
