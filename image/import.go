package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/store"
)

// ImportOptions tune [Import].
type ImportOptions struct {
	Platform    ocispec.Platform           // default linux/GOARCH
	Message     string                     // history comment
	Source      string                     // where the tar came from, for the history entry
	Changes     func(cfg *v1.Config) error // applies --change instructions
	Compression Compression                // layer compression (default gzip)
	Now         func() time.Time           // for tests
	Progress    func(n int64)              // called with bytes of tar read, if set
}

// ErrBadTar marks import input that is not an acceptable filesystem tar.
var ErrBadTar = errors.New("bad filesystem tar")

// Import turns a filesystem tar (plain, gzip, zstd, xz or bzip2) into a one-layer image
// staged in tx, like docker import. It returns the manifest descriptor; the caller tags it
// and commits. Entries that would land outside the root (".." or absolute names) are
// refused, naming the entry.
func Import(ctx context.Context, tx *store.Tx, r io.Reader, opts ImportOptions) (ocispec.Descriptor, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Platform.OS == "" {
		opts.Platform = DefaultPlatform()
	}
	if opts.Compression == "" {
		opts.Compression = Gzip
	}
	cfg := &v1.ConfigFile{
		Architecture: opts.Platform.Architecture,
		OS:           opts.Platform.OS,
		Variant:      opts.Platform.Variant,
		Created:      v1.Time{Time: opts.Now().UTC()},
		RootFS:       v1.RootFS{Type: "layers"},
	}
	if opts.Changes != nil {
		if err := opts.Changes(&cfg.Config); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	zr, _, err := compress.NewReader(r, compress.Options{})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: %w", ErrBadTar, err)
	}
	defer zr.Close()
	layer, diffID, err := WriteLayer(ctx, tx, opts.Compression, func(w io.Writer) error {
		return copyTar(ctx, w, zr, opts.Progress)
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cfg.RootFS.DiffIDs = []v1.Hash{{Algorithm: "sha256", Hex: diffID.Encoded()}}
	comment := opts.Message
	if comment == "" {
		src := opts.Source
		if src == "" {
			src = "-"
		}
		comment = "Imported from " + src
	}
	cfg.History = []v1.History{{Created: cfg.Created, CreatedBy: "imgx import", Comment: comment}}
	return WriteImage(ctx, tx, cfg, []ocispec.Descriptor{layer})
}

// WriteImage stages config and manifest for layers and returns the manifest descriptor,
// with its platform set from the config.
func WriteImage(ctx context.Context, tx BlobWriter, cfg *v1.ConfigFile, layers []ocispec.Descriptor) (ocispec.Descriptor, error) {
	raw, err := MarshalConfig(cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cdesc, err := tx.PutBytes(ctx, ocispec.MediaTypeImageConfig, raw)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cdesc, Layers: layers}
	m.SchemaVersion = 2
	mraw, err := marshalManifest(&m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	mdesc, err := tx.PutBytes(ctx, ocispec.MediaTypeImageManifest, mraw)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	mdesc.Platform = &ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	return mdesc, nil
}

// copyTar re-writes a tar stream entry by entry, refusing names that escape the root.
// Re-writing (rather than copying bytes) also drops trailing garbage and normalises names.
func copyTar(ctx context.Context, w io.Writer, r io.Reader, progress func(int64)) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			if n == 0 {
				return fmt.Errorf("%w: no entries (empty or not a tar)", ErrBadTar)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("%w: after %d entries: %w", ErrBadTar, n, err)
		}
		n++
		name, err := CleanEntryName(hdr.Name)
		if err != nil {
			return fmt.Errorf("%w: entry %d %q: %w", ErrBadTar, n, hdr.Name, err)
		}
		if name == "." {
			continue // the root itself
		}
		hdr.Name = name
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if hdr.Typeflag == tar.TypeLink {
			ln, err := CleanEntryName(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("%w: entry %q: hard link target %q: %w", ErrBadTar, hdr.Name, hdr.Linkname, err)
			}
			hdr.Linkname = ln
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		//lint:ignore SA1019 old writers still emit TypeRegA
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
			m, err := io.Copy(tw, tr)
			if err != nil {
				return fmt.Errorf("%w: entry %q: %w", ErrBadTar, hdr.Name, err)
			}
			if progress != nil {
				progress(m)
			}
		}
	}
	return tw.Close()
}

// ErrUnsafePath marks an entry name that would land outside the filesystem root.
var ErrUnsafePath = errors.New("path escapes the root")

// CleanEntryName normalises a tar entry name ("./a//b/" → "a/b") and refuses absolute
// names and names with ".." that leave the root.
func CleanEntryName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute path: %w", ErrUnsafePath)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("'..' component: %w", ErrUnsafePath)
		}
	}
	return path.Clean(name), nil
}
