// Command benchpull pulls one image from a registry with N concurrent clients, for
// scripts/bench-serve.sh: usage benchpull [-clients N] [-jobs J] HOST:PORT/NAME:TAG. Each
// client fetches the manifest, then the config and layers, J at a time, as docker and
// podman do; client 0 verifies every digest, the others count bytes (so that hashing in
// the clients does not take the CPU the servers are measured on). It prints the wall time
// of the slowest client and the bytes moved: "SECONDS BYTES".
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type desc struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

func main() {
	clients := flag.Int("clients", 1, "concurrent clients")
	jobs := flag.Int("jobs", 3, "blobs each client downloads at once")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: benchpull [-clients N] [-jobs J] HOST:PORT/NAME:TAG")
		os.Exit(2)
	}
	hostRepo, tag, ok := cut(flag.Arg(0))
	if !ok {
		fmt.Fprintln(os.Stderr, "benchpull: want HOST:PORT/NAME:TAG")
		os.Exit(2)
	}
	host, repo, _ := strings.Cut(hostRepo, "/")
	base := "http://" + host + "/v2/" + repo
	tr := &http.Transport{MaxIdleConnsPerHost: *clients * *jobs, DisableCompression: true}
	c := &http.Client{Transport: tr}
	var total atomic.Int64
	errs := make(chan error, *clients)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range *clients {
		wg.Go(func() {
			if err := pull(c, base, tag, *jobs, i == 0, &total); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, "benchpull:", err)
		os.Exit(1)
	}
	fmt.Printf("%.3f %d\n", time.Since(start).Seconds(), total.Load())
}

func cut(s string) (string, string, bool) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

func pull(c *http.Client, base, tag string, jobs int, verify bool, total *atomic.Int64) error {
	req, _ := http.NewRequest("GET", base+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("manifest: %s", resp.Status)
	}
	var m struct {
		Config desc   `json:"config"`
		Layers []desc `json:"layers"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&m); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	blobs := append([]desc{m.Config}, m.Layers...)
	sem := make(chan struct{}, jobs)
	errc := make(chan error, len(blobs))
	var wg sync.WaitGroup
	for _, b := range blobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errc <- fetch(c, base, b, verify, total)
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

func fetch(c *http.Client, base string, b desc, verify bool, total *atomic.Int64) error {
	resp, err := c.Get(base + "/blobs/" + b.Digest)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("blob %s: %s", b.Digest, resp.Status)
	}
	var h hash.Hash = nopHash{}
	if verify {
		h = sha256.New()
	}
	n, err := io.Copy(h, resp.Body)
	total.Add(n)
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	if n != b.Size {
		return fmt.Errorf("blob %s: %d bytes, want %d", b.Digest, n, b.Size)
	}
	if verify && "sha256:"+hex.EncodeToString(h.Sum(nil)) != b.Digest {
		return fmt.Errorf("blob %s: digest mismatch", b.Digest)
	}
	return nil
}

// nopHash counts nothing: io.Copy into it only drains the body.
type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 1 }
