package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileBaseNameEscaped: a delta bundle's base name ("base": {"name": ...}) is the
// sender's text; no signature is needed to put it on a carrier. Ingest's one-line report
// of a waiting delta ("needs NAME, which is not loaded") printed it with its newline, so a
// base name could forge a "loaded ..." line in the report cron mails.
func TestHostileBaseNameEscaped(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("IMGX_TRUST_DIR", "")
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	imgx := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"--store", store}, args...),
			&Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
		return out.String() + errb.String(), code
	}
	var fs bytes.Buffer
	tw := tar.NewWriter(&fs)
	tw.WriteHeader(&tar.Header{Name: "a.txt", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("a\n"))
	tw.Close()
	fsTar := filepath.Join(dir, "fs.tar")
	os.WriteFile(fsTar, fs.Bytes(), 0o644)
	if out, code := imgx("import", fsTar, "app:1"); code != 0 {
		t.Fatal(out)
	}
	plain := filepath.Join(dir, "plain.imgx")
	if out, code := imgx("save", "--compress", "none", "-o", plain, "app:1"); code != 0 {
		t.Fatal(out)
	}
	// Rewrite the manifest into a delta on a base with a hostile name.
	raw, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Name == "imgx-bundle.json" {
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			m["sequence"] = 4
			m["base"] = map[string]any{"digest": "sha256:" + strings.Repeat("a", 64), "sequence": 3,
				"name": "rel\x1b[2J\nloaded   x.imgx: victim:prod, 1MB written"}
			data, _ = json.Marshal(m)
			h.Size = int64(len(data))
		}
		w.WriteHeader(h)
		w.Write(data)
	}
	w.Close()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	os.WriteFile(filepath.Join(in, "delta.imgx"), b.Bytes(), 0o644)
	for _, args := range [][]string{{"ingest", in}, {"ingest", "--strict", in}, {"verify", "--digest-only", filepath.Join(in, "delta.imgx")}, {"ls", "--long", in}} {
		all, _ := imgx(args...)
		if strings.Contains(all, "\x1b") {
			t.Errorf("imgx %s printed a raw escape:\n%q", strings.Join(args, " "), all)
		}
		for _, line := range strings.Split(all, "\n") {
			if strings.HasPrefix(line, "loaded   x.imgx") {
				t.Errorf("imgx %s: a base name forged a line:\n%s", strings.Join(args, " "), all)
			}
		}
	}
}
