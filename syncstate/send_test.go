package syncstate

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/store"
)

// toBuffer publishes into buf, recording the size estimate it was given.
func toBuffer(buf *bytes.Buffer, size *int64) Publisher {
	return func(ctx context.Context, n int64, write func(io.Writer) error) error {
		buf.Reset()
		*size = n
		return write(buf)
	}
}

func TestSend(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	importImage(t, s, "app:stable", "v1")
	app, err := s.Resolve(ctx, "app:stable")
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(t.TempDir(), "sent.json")
	var buf bytes.Buffer
	var size int64
	signed := 0
	opts := SendOptions{StatePath: statePath, Name: "night1.imgx", Now: func() time.Time { return time.Unix(100, 0) },
		Signers: func() ([]crypto.Signer, error) { signed++; return nil, nil }}

	// Night one: a full bundle, recorded after it was published.
	r, err := Send(ctx, s, []store.Resolved{app}, toBuffer(&buf, &size), opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Unchanged || r.Last != nil || r.Bundle.Manifest.Base != nil || int64(buf.Len()) != r.Bundle.Written || signed != 1 {
		t.Fatalf("night one: %+v, wrote %d, signers asked %d times", r, buf.Len(), signed)
	}
	if size != r.Bundle.Manifest.TotalSize() {
		t.Errorf("size estimate %d, bundle blobs %d", size, r.Bundle.Manifest.TotalSize())
	}
	st, err := Load(statePath)
	if err != nil || st.Last == nil || st.Last.Name != "night1.imgx" || st.Last.Digest != r.Bundle.ManifestDigest || !st.Updated.Equal(time.Unix(100, 0)) {
		t.Fatalf("state after night one: %+v, %v", st, err)
	}

	// Night two, nothing changed: nothing written, no password asked, state as it was.
	before, _ := os.ReadFile(statePath)
	buf.Reset()
	opts.Name = "night2.imgx"
	r, err = Send(ctx, s, []store.Resolved{app}, toBuffer(&buf, &size), opts)
	if err != nil || !r.Unchanged || r.Bundle != nil || r.Last.Name != "night1.imgx" || buf.Len() != 0 || signed != 1 {
		t.Fatalf("unchanged night: %+v, %v, wrote %d, signers asked %d times", r, err, buf.Len(), signed)
	}
	if after, _ := os.ReadFile(statePath); !bytes.Equal(before, after) {
		t.Fatal("an unchanged night rewrote the state")
	}

	// A failed publish leaves the state as it was.
	boom := errors.New("carrier gone")
	opts.Always = true
	_, err = Send(ctx, s, []store.Resolved{app}, func(context.Context, int64, func(io.Writer) error) error { return boom }, opts)
	if !errors.Is(err, boom) {
		t.Fatalf("failed publish: %v", err)
	}
	if after, _ := os.ReadFile(statePath); !bytes.Equal(before, after) {
		t.Fatal("a failed publish changed the state")
	}

	// Night two with a new image: a delta on night one, leaving out its layer.
	opts.Always = false
	importImage(t, s, "web:stable", "v1-web")
	web, _ := s.Resolve(ctx, "web:stable")
	r, err = Send(ctx, s, []store.Resolved{app, web}, toBuffer(&buf, &size), opts)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Bundle.Manifest
	if m.Base == nil || m.Base.Name != "night1.imgx" || len(m.Expects) != 1 || m.Sequence != 1 {
		t.Fatalf("delta: base %+v, expects %d, sequence %d", m.Base, len(m.Expects), m.Sequence)
	}
	// The estimate leaves out all the base carried (its metadata too, which a delta
	// repeats): at most the bundle's blobs, and more than nothing.
	if size <= 0 || size > m.TotalSize() {
		t.Errorf("delta size estimate %d, bundle blobs %d", size, m.TotalSize())
	}

	// A state file that cannot be written after publishing: ErrNotRecorded, bundle kept.
	bad := SendOptions{StatePath: filepath.Join(t.TempDir(), "missing-dir", "sent.json"), Name: "x.imgx"}
	r, err = Send(ctx, s, []store.Resolved{app}, toBuffer(&buf, &size), bad)
	if !errors.Is(err, ErrNotRecorded) || r == nil || r.Bundle == nil {
		t.Fatalf("unwritable state: %+v, %v", r, err)
	}

	// A delta on a bundle and on a state exclude each other.
	both := opts
	both.Bundle = bundle.SaveOptions{Since: &bundle.Base{}}
	if _, err := Send(ctx, s, []store.Resolved{app}, toBuffer(&buf, &size), both); err == nil {
		t.Fatal("Since with StatePath accepted")
	}
}
