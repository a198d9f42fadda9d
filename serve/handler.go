package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgx/imgx/store"
)

// maxPage bounds one page of tags or repositories: a larger n gets this many and a Link
// to the rest, as the spec allows.
const maxPage = 1000

// maxRanges bounds the ranges one blob request may ask for.
const maxRanges = 16

// Handler serves one store read-only. It is an http.Handler; [Server] adds TLS,
// authentication, the access log and timeouts around it.
type Handler struct {
	views *views
	log   *slog.Logger
}

// NewHandler returns the read-only registry handler for st. Close it to release the
// store directory.
func NewHandler(st *store.Store, log *slog.Logger) (*Handler, error) {
	root, err := os.OpenRoot(st.Root())
	if err != nil {
		return nil, fmt.Errorf("serve: open store %s: %w", st.Root(), err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{views: &views{root: root}, log: log}, nil
}

// Close releases the store directory.
func (h *Handler) Close() error { return h.views.root.Close() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, rerr := parseRoute(r.URL.EscapedPath())
	if rerr != nil {
		writeError(w, r, rerr.status, rerr.code, rerr.msg, nil)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, r, http.StatusMethodNotAllowed, codeUnsupported, "this registry is read-only", nil)
		return
	}
	if rt.kind == kindUpload {
		w.Header().Set("Allow", "")
		writeError(w, r, http.StatusMethodNotAllowed, codeUnsupported, "this registry is read-only", nil)
		return
	}
	if rt.kind == kindPing {
		writeJSON(w, r, "application/json", []byte("{}"))
		return
	}
	v, err := h.views.get()
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if rt.kind == kindCatalog {
		h.page(w, r, "/v2/_catalog", "repositories", nil, v.names)
		return
	}
	rp := v.repos[rt.name]
	if rp == nil {
		writeError(w, r, http.StatusNotFound, codeNameUnknown, "repository name not known to registry", map[string]string{"name": rt.name})
		return
	}
	switch rt.kind {
	case kindTags:
		h.page(w, r, "/v2/"+rt.name+"/tags/list", "tags", map[string]any{"name": rt.name}, rp.list)
	case kindManifest:
		h.manifest(w, r, v, rp, rt)
	case kindBlob:
		h.blob(w, r, v, rt.dgst)
	case kindReferrers:
		h.referrers(w, r, v, rt.dgst)
	}
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("serve", "method", r.Method, "path", r.URL.EscapedPath(), "error", err.Error())
	writeError(w, r, http.StatusInternalServerError, codeUnsupported, "internal error reading the store", nil)
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// page answers one page of a sorted list (tags or repositories): n and last as the spec
// says, and a Link header when more follow.
func (h *Handler) page(w http.ResponseWriter, r *http.Request, base, key string, extra map[string]any, all []string) {
	q := r.URL.Query()
	n := maxPage
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			writeError(w, r, http.StatusBadRequest, codePaginationN, "invalid number of results requested", map[string]string{"n": s})
			return
		}
		n = min(v, maxPage)
	}
	list := all
	if last := q.Get("last"); last != "" {
		list = list[sort.SearchStrings(list, last):]
		if len(list) > 0 && list[0] == last {
			list = list[1:]
		}
	}
	more := len(list) > n
	list = list[:min(n, len(list))]
	doc := map[string]any{key: append([]string{}, list...)}
	for k, v := range extra {
		doc[k] = v
	}
	if more && len(list) > 0 {
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {list[len(list)-1]}}
		w.Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", base, next.Encode()))
	}
	body, _ := json.Marshal(doc)
	writeJSON(w, r, "application/json", body)
}

func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, v *view, rp *repo, rt route) {
	var desc ocispec.Descriptor
	if rt.tag != "" {
		d, ok := rp.tags[rt.tag]
		if !ok {
			detail := map[string]any{"tag": rt.tag}
			msg := "manifest unknown"
			if names := rp.ambiguous[rt.tag]; len(names) > 0 {
				msg = fmt.Sprintf("%s:%s names different images in the store (%s); pull one by its full name", rt.name, rt.tag, strings.Join(names, ", "))
				detail["candidates"] = names
			}
			writeError(w, r, http.StatusNotFound, codeManifestUnknown, msg, detail)
			return
		}
		desc = d
	} else {
		d, ok := v.manifests[rt.dgst]
		if !ok {
			writeError(w, r, http.StatusNotFound, codeManifestUnknown, "manifest unknown", map[string]string{"digest": rt.dgst.String()})
			return
		}
		desc = d
	}
	hdr := w.Header()
	hdr.Set("Docker-Content-Digest", desc.Digest.String())
	hdr.Set("ETag", `"`+desc.Digest.String()+`"`)
	if r.Method == http.MethodHead {
		if !h.present(desc.Digest) {
			writeError(w, r, http.StatusNotFound, codeManifestUnknown, "manifest unknown", map[string]string{"digest": desc.Digest.String()})
			return
		}
		hdr.Set("Content-Type", desc.MediaType)
		hdr.Set("Content-Length", strconv.FormatInt(desc.Size, 10))
		w.WriteHeader(http.StatusOK)
		return
	}
	data, err := h.views.readManifest(desc)
	if errors.Is(err, errMissing) {
		writeError(w, r, http.StatusNotFound, codeManifestUnknown, "manifest unknown", map[string]string{"digest": desc.Digest.String()})
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, r, desc.MediaType, data)
}

// blobPath is where blob d lives, relative to the store: built from a parsed digest only.
func blobPath(d digest.Digest) string {
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

func (h *Handler) present(d digest.Digest) bool {
	fi, err := h.views.root.Stat(blobPath(d))
	return err == nil && fi.Mode().IsRegular()
}

// blob serves a blob with Range support. The file is opened first and served from that
// descriptor, so a prune that removes it meanwhile does not cut the response short.
func (h *Handler) blob(w http.ResponseWriter, r *http.Request, v *view, d digest.Digest) {
	size, ok := v.blobs[d]
	unknown := func() {
		writeError(w, r, http.StatusNotFound, codeBlobUnknown, "blob unknown to registry", map[string]string{"digest": d.String()})
	}
	if !ok {
		unknown()
		return
	}
	f, err := h.views.root.Open(blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		unknown()
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if !fi.Mode().IsRegular() || fi.Size() != size {
		h.internal(w, r, fmt.Errorf("blob %s: %d bytes on disk, its descriptor says %d", d, fi.Size(), size))
		return
	}
	hdr := w.Header()
	if rg := r.Header.Get("Range"); strings.Count(rg, ",") >= maxRanges {
		// Clients pull with one range; thousands of tiny ones only amplify the
		// response (a multipart header per byte).
		hdr.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		writeError(w, r, http.StatusRequestedRangeNotSatisfiable, codeRangeInvalid, fmt.Sprintf("more than %d ranges", maxRanges), nil)
		return
	}
	hdr.Set("Docker-Content-Digest", d.String())
	hdr.Set("ETag", `"`+d.String()+`"`)
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Cache-Control", "max-age=31536000")
	http.ServeContent(w, r, "", time.Time{}, f)
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, v *view, d digest.Digest) {
	list := v.referrers[d]
	if at := r.URL.Query().Get("artifactType"); at != "" {
		var keep []ocispec.Descriptor
		for _, x := range list {
			if x.ArtifactType == at {
				keep = append(keep, x)
			}
		}
		list = keep
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	if list == nil {
		list = []ocispec.Descriptor{}
	}
	body, _ := json.Marshal(ocispec.Index{
		Versioned: ocispecVersioned,
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: list,
	})
	writeJSON(w, r, ocispec.MediaTypeImageIndex, body)
}
