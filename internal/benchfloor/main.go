// Command benchfloor is the reference "floor" of the bench scripts (scripts/bench.sh): it
// reads the given files, SHA-256 hashes every byte and, with -o DIR, writes the same bytes
// to DIR and fsyncs them, using every core. The time it takes is what any tool must spend
// at least to move these bytes through the page cache, the hash and the disk here, so the
// bench table prints imgx's figures as a fraction of it.
//
//	benchfloor [-o DIR] [-workers N] FILE|DIR...
//
// A DIR argument stands for the regular files under it. The bytes are cut into chunks of
// -chunk bytes that GOMAXPROCS workers take in turn (pread, hash, pwrite at the same
// offset); then the written files are fsynced, also in parallel. Each chunk gets its own
// hash, so the work per byte is the same as hashing whole files, only spread over the
// cores. It prints one line: bytes, files, workers and the SHA-256 of the chunk digests.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

func main() {
	out := flag.String("o", "", "write the bytes to files in this directory and fsync them (default: only read and hash)")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "parallel workers")
	chunk := flag.Int64("chunk", 4<<20, "bytes per chunk")
	flag.Parse()
	res, err := run(flag.Args(), *out, *workers, *chunk)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchfloor:", err)
		os.Exit(1)
	}
	fmt.Printf("benchfloor: %d bytes in %d files, %d workers, digest %s\n", res.bytes, res.files, res.workers, res.digest)
}

type result struct {
	bytes   int64
	files   int
	workers int
	digest  string // SHA-256 over the chunk digests in file and offset order
}

type piece struct {
	file     int
	off, len int64
}

// run does the floor's work on the files named by args (files, or directories standing for
// the regular files under them); with out non-empty it writes copies there, named 0, 1, …
func run(args []string, out string, workers int, chunk int64) (result, error) {
	if workers < 1 {
		workers = 1
	}
	if chunk < 1 {
		return result{}, errors.New("chunk must be positive")
	}
	var paths []string
	for _, a := range args {
		err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			return result{}, fmt.Errorf("listing %s: %w", a, err)
		}
	}
	if len(paths) == 0 {
		return result{}, errors.New("no input files")
	}
	ins := make([]*os.File, len(paths))
	outs := make([]*os.File, len(paths))
	defer func() {
		for i := range paths {
			if ins[i] != nil {
				ins[i].Close()
			}
			if outs[i] != nil {
				outs[i].Close()
			}
		}
	}()
	var pieces []piece
	var total int64
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return result{}, err
		}
		ins[i] = f
		st, err := f.Stat()
		if err != nil {
			return result{}, fmt.Errorf("stat %s: %w", p, err)
		}
		for off := int64(0); off < st.Size(); off += chunk {
			pieces = append(pieces, piece{i, off, min(chunk, st.Size()-off)})
		}
		total += st.Size()
		if out != "" {
			o, err := os.OpenFile(filepath.Join(out, fmt.Sprint(i)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return result{}, err
			}
			outs[i] = o
		}
	}

	sums := make([][sha256.Size]byte, len(pieces))
	errs := make(chan error, workers)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, chunk)
			for k := range next {
				pc := pieces[k]
				b := buf[:pc.len]
				if _, err := ins[pc.file].ReadAt(b, pc.off); err != nil && !errors.Is(err, io.EOF) {
					errs <- fmt.Errorf("reading %s: %w", paths[pc.file], err)
					return
				}
				sums[k] = sha256.Sum256(b)
				if outs[pc.file] != nil {
					if _, err := outs[pc.file].WriteAt(b, pc.off); err != nil {
						errs <- fmt.Errorf("writing copy of %s: %w", paths[pc.file], err)
						return
					}
					startWriteback(outs[pc.file], pc.off, pc.len)
				}
			}
		}()
	}
	err := feed(next, len(pieces), errs)
	wg.Wait()
	if err == nil {
		select { // a worker may fail on the last pieces, after feed returned
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return result{}, err
	}
	if out != "" {
		if err := syncAll(outs, workers); err != nil {
			return result{}, err
		}
	}
	h := sha256.New()
	for _, s := range sums {
		h.Write(s[:])
	}
	return result{bytes: total, files: len(paths), workers: workers, digest: hex.EncodeToString(h.Sum(nil))}, nil
}

// feed hands the piece indexes to the workers until done or a worker reports an error.
func feed(next chan<- int, n int, errs <-chan error) error {
	defer close(next)
	for k := 0; k < n; k++ {
		select {
		case next <- k:
		case err := <-errs:
			return err
		}
	}
	return nil
}

// syncAll fsyncs the files with up to workers at once.
func syncAll(files []*os.File, workers int) error {
	sem := make(chan struct{}, workers)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for _, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f.Sync(); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("fsync %s: %w", f.Name(), err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
