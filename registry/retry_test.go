package registry_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgx/imgx/registry"
)

// fault is what the registry does to one request: serve it, fail it with a
// status, or send part of the body and drop the connection.
type fault struct {
	status int     // 0: no status fault
	cut    float64 // > 0: send this fraction of the rest of the body, then drop
}

// TestRetryAttemptsPerFailure counts the requests a pull makes for each
// failure the registry injects: every transient failure costs exactly one
// more request (one retry policy at one layer, not retries of retries), a
// broken body resumes at the byte reached, progress resets the retry
// count, and a permanent failure is not retried.
func TestRetryAttemptsPerFailure(t *testing.T) {
	base := newRegistry(t, nil)
	img := seedImage(t, base+"/app:1", 2)
	ls, _ := img.Layers()
	layer := digestOf(t, ls[0])
	tests := []struct {
		name      string
		blob      []fault // faults of the layer's successive GETs
		manifest  []fault // faults of the manifest's successive GETs
		retries   int
		wantBlob  int // GETs of the layer
		wantMan   int // GETs of the manifest by digest or tag
		wantErr   bool
		wantRange bool // a GET of the layer asked for a range
	}{
		{"blob 503 once", []fault{{status: 503}}, nil, 2, 2, 1, false, false},
		{"blob cut once", []fault{{cut: 0.5}}, nil, 2, 2, 1, false, true},
		{"blob cut with progress each time", []fault{{cut: 0.2}, {cut: 0.2}, {cut: 0.2}, {cut: 0.2}}, nil, 2, 5, 1, false, true},
		{"blob 503 past the retries", []fault{{status: 503}, {status: 503}, {status: 503}, {status: 503}}, nil, 2, 3, 1, true, false},
		{"blob 404 is final", []fault{{status: 404}, {status: 404}}, nil, 2, 1, 1, true, false},
		{"manifest 503 once", nil, []fault{{status: 503}}, 2, 1, 2, false, false},
		{"manifest 503 past the retries", nil, []fault{{status: 503}, {status: 503}, {status: 503}, {status: 503}}, 2, 0, 3, true, false},
		{"no retries", []fault{{status: 503}}, nil, 0, 1, 1, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var blobGets, manGets int
			ranged := false
			host := newRegistry(t, func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					var f fault
					mu.Lock()
					switch {
					case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+layer):
						if blobGets < len(tc.blob) {
							f = tc.blob[blobGets]
						}
						blobGets++
						ranged = ranged || r.Header.Get("Range") != ""
					case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/"):
						if manGets < len(tc.manifest) {
							f = tc.manifest[manGets]
						}
						manGets++
					}
					mu.Unlock()
					switch {
					case f.status != 0:
						w.WriteHeader(f.status)
						return
					case f.cut > 0:
						rec := httptest.NewRecorder()
						next.ServeHTTP(rec, r)
						for k, v := range rec.Header() {
							w.Header()[k] = v
						}
						body := rec.Body.Bytes()
						w.WriteHeader(rec.Code)
						w.Write(body[:int(float64(len(body))*f.cut)])
						panic(http.ErrAbortHandler)
					}
					next.ServeHTTP(w, r)
				})
			})
			mu.Lock()
			blobs, tc2 := tc.blob, tc.manifest
			tc.blob, tc.manifest = nil, nil // let the seeding through
			mu.Unlock()
			write(t, host+"/app:1", img)
			mu.Lock()
			tc.blob, tc.manifest = blobs, tc2
			blobGets, manGets, ranged = 0, 0, false
			mu.Unlock()
			o := opts()
			o.Retries = tc.retries
			var notes []string
			o.Notify = func(op string, err error, attempt int, d time.Duration) {
				mu.Lock()
				notes = append(notes, fmt.Sprintf("%s #%d in %v: %v", op, attempt, d, err))
				mu.Unlock()
			}
			o.RetryDelay = time.Millisecond
			// Artifact lookups (cosign tags, referrers) would add manifest GETs: counted here are the image's.
			_, err := registry.Pull(ctx, newStore(t), host+"/app:1", registry.PullOptions{Options: o, ExcludeExtras: true})
			mu.Lock()
			defer mu.Unlock()
			if (err != nil) != tc.wantErr {
				t.Fatalf("pull: %v, want error=%v\nretries: %q", err, tc.wantErr, notes)
			}
			if blobGets != tc.wantBlob || manGets != tc.wantMan || ranged != tc.wantRange {
				t.Fatalf("%d GETs of the layer, %d of the manifest, ranged %v; want %d, %d, %v\nretries: %q",
					blobGets, manGets, ranged, tc.wantBlob, tc.wantMan, tc.wantRange, notes)
			}
		})
	}
}
