package rootfs

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imgx/imgx/internal/testserver"
	"github.com/imgx/imgx/internal/testutil"
)

// TestHostileUnpackDevicesSetuid: an image can carry device nodes, FIFOs, setuid and
// setgid files and absolute names. By default root keeps devices and setuid bits (as
// tar and umoci do); NoDevices and NoSetuid drop them. Absolute names land inside DIR.
// Nothing outside DIR changes either way.
func TestHostileUnpackDevicesSetuid(t *testing.T) {
	// Device nodes and setuid files from an image are kept only as root.
	testserver.HostCapability(t, "root", testserver.Root(), "run the tests as root")
	layer := mkTar(t,
		ent{name: "dev/null2", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		ent{name: "dev/loop9", typ: tar.TypeBlock, mode: 0o660, major: 7, minor: 9},
		ent{name: "run/pipe", typ: tar.TypeFifo, mode: 0o644},
		hard("dev/null-link", "dev/null2"),
		file("bin/su", "#!/bin/sh\n").withMode(0o4755),
		file("bin/wall", "#!/bin/sh\n").withMode(0o2755),
		dir("shared").withMode(0o3775),
		file("/etc/abs.conf", "absolute\n"),
	)
	tests := []struct {
		name string
		opts UnpackOptions
		want []string
	}{
		{"defaults keep devices and setuid", UnpackOptions{}, []string{
			"bin d 0755 0:0", `bin/su f 4755 0:0 "#!/bin/sh\n"`, `bin/wall f 2755 0:0 "#!/bin/sh\n"`,
			"dev d 0755 0:0", "dev/loop9 b 0660 0:0 7,9", "dev/null-link c 0666 0:0 1,3", "dev/null2 c 0666 0:0 1,3",
			"etc d 0755 0:0", `etc/abs.conf f 0644 0:0 "absolute\n"`,
			"run d 0755 0:0", "run/pipe p 0644 0:0",
			"shared d 3775 0:0",
		}},
		{"no devices, no setuid", UnpackOptions{NoDevices: true, NoSetuid: true}, []string{
			"bin d 0755 0:0", `bin/su f 0755 0:0 "#!/bin/sh\n"`, `bin/wall f 0755 0:0 "#!/bin/sh\n"`,
			"dev d 0755 0:0",
			"etc d 0755 0:0", `etc/abs.conf f 0644 0:0 "absolute\n"`,
			"run d 0755 0:0",
			"shared d 1775 0:0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := t.TempDir()
			sentinel := filepath.Join(top, "outside")
			os.MkdirAll(filepath.Join(sentinel, "etc"), 0o755)
			os.WriteFile(filepath.Join(sentinel, "etc", "abs.conf"), []byte("sentinel\n"), 0o644)
			before := testutil.TreeHash(t, sentinel)
			dir := filepath.Join(top, "out")
			if err := UnpackWith(context.Background(), openers(layer), dir, tt.opts); err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			diffLines(t, "unpacked tree", treeOf(t, dir, walkOpts{owners: true}), tt.want)
			if after := testutil.TreeHash(t, sentinel); after != before {
				t.Errorf("tree outside DIR changed:\n%s\n%s", before, after)
			}
		})
	}
}

// TestHostileUnpackFileCapabilities: a file capability (security.capability) grants
// privileges as setuid does, so NoSetuid drops it too; by default root keeps it.
func TestHostileUnpackFileCapabilities(t *testing.T) {
	// Only root may set security.capability.
	testserver.HostCapability(t, "root", testserver.Root(), "run the tests as root")
	// vfs_cap_data revision 2, effective, permitted = CAP_NET_RAW (13).
	capNetRaw := string([]byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	layer := mkTar(t, file("bin/ping", "ping").withMode(0o755).withXattr("security.capability", capNetRaw))
	for _, tt := range []struct {
		opts UnpackOptions
		want bool
	}{{UnpackOptions{}, true}, {UnpackOptions{NoSetuid: true}, false}} {
		dir := t.TempDir()
		if err := UnpackWith(context.Background(), openers(layer), dir, tt.opts); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := unix.Getxattr(filepath.Join(dir, "bin/ping"), "security.capability", buf)
		if got := err == nil && string(buf[:n]) == capNetRaw; got != tt.want {
			t.Errorf("%+v: capability kept = %v (%v), want %v", tt.opts, got, err, tt.want)
		}
	}
}
