package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"

	"github.com/imgx/imgx/internal/atomicfile"
	"github.com/imgx/imgx/internal/compress"
	"github.com/imgx/imgx/verify"
)

// SignFile adds a signature by each signer to the bundle at path. The file is replaced
// atomically (a temporary file beside it, then a rename); blobs are copied unchanged, and
// for a zstd bundle written by imgx only the head frame is re-encoded. A signer that has
// already signed replaces its signature. It returns the key IDs that signed.
func SignFile(ctx context.Context, path string, signers ...crypto.Signer) ([]string, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, err
	}
	tmp, err := atomicfile.Create(path, fi.Mode().Perm())
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}
	defer tmp.Abort()
	ids, err := AddSignatures(ctx, tmp, src, signers...)
	if err == nil {
		err = tmp.Commit()
	}
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}
	return ids, nil
}

// AddSignatures copies the bundle src to dst with a signature by each signer added.
func AddSignatures(ctx context.Context, dst io.Writer, src io.Reader, signers ...crypto.Signer) ([]string, error) {
	if len(signers) == 0 {
		return nil, errors.New("sign: no key")
	}
	br := bufio.NewReaderSize(src, 1<<20)
	kind, err := compress.Detect(br)
	if err != nil {
		return nil, err
	}
	if kind == compress.Zstd {
		var frame bytes.Buffer
		if _, err := frameLen(io.TeeReader(io.LimitReader(br, headLimit), &frame)); err != nil {
			return nil, fmt.Errorf("%w: head frame: %w", ErrMalformed, err)
		}
		if head, ok := decodeHeadFrame(frame.Bytes()); ok {
			mbytes, sigs, err := parseHead(head)
			if err == nil {
				ids, newHead, err := signHead(ctx, mbytes, sigs, signers)
				if err != nil {
					return nil, err
				}
				enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
				if _, err := dst.Write(enc.EncodeAll(newHead, nil)); err != nil {
					return nil, err
				}
				if _, err := io.Copy(dst, br); err != nil {
					return nil, err
				}
				return ids, nil
			}
		}
		// Not imgx's frame layout (recompressed by another tool): re-tar the whole stream.
		return retar(ctx, dst, io.MultiReader(bytes.NewReader(frame.Bytes()), br), Zstd, signers)
	}
	return retar(ctx, dst, br, None, signers)
}

// decodeHeadFrame decodes one frame, refusing more than headLimit bytes.
func decodeHeadFrame(frame []byte) ([]byte, bool) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(headLimit))
	if err != nil {
		return nil, false
	}
	defer dec.Close()
	out, err := dec.DecodeAll(frame, nil)
	return out, err == nil
}

// parseHead reads a tar that holds exactly the manifest and signature entries.
func parseHead(head []byte) ([]byte, map[string][]byte, error) {
	tr := tar.NewReader(bytes.NewReader(head))
	var mbytes []byte
	sigs := map[string][]byte{}
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if err := checkHeader(h); err != nil {
			return nil, nil, err
		}
		b, err := readAllN(tr, h.Size)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case i == 0 && h.Name == ManifestName:
			mbytes = b
		case i > 0 && sigNameRE.MatchString(h.Name):
			sigs[h.Name] = b
		default:
			return nil, nil, fmt.Errorf("head frame holds %q", h.Name)
		}
	}
	if mbytes == nil {
		return nil, nil, fmt.Errorf("%w: no %s", ErrNotBundle, ManifestName)
	}
	return mbytes, sigs, nil
}

// signHead signs the manifest and returns the new head as a tar fragment (no end blocks).
func signHead(ctx context.Context, mbytes []byte, sigs map[string][]byte, signers []crypto.Signer) ([]string, []byte, error) {
	m, err := ParseManifest(mbytes)
	if err != nil {
		return nil, nil, err
	}
	var ids []string
	for _, sg := range signers {
		sig, err := verify.Sign(ctx, sg, mbytes)
		if err != nil {
			return nil, nil, fmt.Errorf("sign: %w", err)
		}
		name, id, err := signatureName(sig)
		if err != nil {
			return nil, nil, err
		}
		sigs[name] = sig
		ids = append(ids, id)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: m.Created, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, r); err != nil {
			return err
		}
		return tw.Flush()
	}
	if err := writeHead(tw, put, mbytes, sigs); err != nil {
		return nil, nil, err
	}
	return ids, buf.Bytes(), nil
}

// retar rewrites a bundle entry by entry (headers rewritten, contents copied unchanged)
// with the new signatures, in imgx's frame layout.
func retar(ctx context.Context, dst io.Writer, src io.Reader, c Compression, signers []crypto.Signer) ([]string, error) {
	rd, err := openReader(src)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	sigs := map[string][]byte{}
	for i, n := range rd.SignatureNames {
		sigs[n] = rd.Signatures[i]
	}
	ids, head, err := signHead(ctx, rd.ManifestBytes, sigs, signers)
	if err != nil {
		return nil, err
	}
	raw := map[string]bool{}
	for _, d := range rd.Manifest.Blobs {
		raw[blobPath(d.Digest)] = alreadyCompressed(d.MediaType)
	}
	var sw segmentWriter = plainWriter{dst}
	if c == Zstd {
		sw = newFrameWriter(dst, zstd.SpeedDefault, 0)
	}
	werr := func() error {
		if _, err := sw.Write(head); err != nil {
			return err
		}
		tw := tar.NewWriter(sw)
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			h, err := rd.nextHeader()
			if err != nil {
				return err
			}
			if h == nil {
				if err := sw.Cut(modeCompress); err != nil {
					return err
				}
				return tw.Close()
			}
			mode := modeCompress
			if raw[h.Name] {
				mode = modeRaw
			}
			if err := sw.Cut(mode); err != nil {
				return err
			}
			nh := &tar.Header{Name: h.Name, Mode: 0o644, Size: h.Size, ModTime: rd.Manifest.Created, Typeflag: tar.TypeReg}
			if err := tw.WriteHeader(nh); err != nil {
				return err
			}
			if _, err := io.Copy(tw, rd.tr); err != nil {
				return rd.wrap(err)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}()
	if cerr := sw.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("sign: %w", werr)
	}
	return ids, nil
}
