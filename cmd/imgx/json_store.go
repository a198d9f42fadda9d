package main

import (
	"errors"

	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/internal/errcode"
	"github.com/imgx/imgx/store"
)

// images

type imagesJSON struct {
	jsonDoc
	Images []imageRow `json:"images"`
}

func imagesDoc(rows []imageRow) imagesJSON {
	for i := range rows {
		rows[i].Platforms = nonNil(rows[i].Platforms)
	}
	return imagesJSON{doc, nonNil(rows)}
}

// check

type checkJSON struct {
	jsonDoc
	OK          bool          `json:"ok"`
	Images      int           `json:"images"`
	Blobs       int           `json:"blobs"`
	Bytes       int64         `json:"bytes"`
	Unreachable int           `json:"unreachable"`
	Leftovers   int           `json:"leftovers"`
	Artifacts   int           `json:"artifacts"`
	Orphans     int           `json:"orphan_artifacts"`
	Problems    []problemJSON `json:"problems"`
}

type problemJSON struct {
	Image string        `json:"image,omitempty"`
	Blob  digest.Digest `json:"blob,omitempty"`
	jsonError
}

func checkDoc(rep store.CheckReport) checkJSON {
	out := checkJSON{jsonDoc: doc, OK: rep.OK(), Images: rep.Images, Blobs: rep.Blobs, Bytes: rep.Bytes,
		Unreachable: rep.Unreachable, Leftovers: rep.Leftovers, Artifacts: rep.Artifacts, Orphans: rep.Orphans, Problems: []problemJSON{}}
	for _, p := range rep.Problems {
		pj := problemJSON{Image: p.Image, Blob: p.Blob, jsonError: errJSON(p)}
		if p.Blob != "" && errors.Is(p, store.ErrNotFound) {
			pj.Code = errcode.MissingBlob // the store lacks a blob an image uses
		}
		out.Problems = append(out.Problems, pj)
	}
	return out
}

// prune

type pruneJSON struct {
	jsonDoc
	Blobs      []digest.Digest     `json:"blobs"`
	Leftovers  int                 `json:"leftovers"`
	BytesFreed int64               `json:"bytes_freed"`
	Missing    []digest.Digest     `json:"missing"`
	Images     []store.PrunedImage `json:"images"`
	Artifacts  int                 `json:"artifacts"`
}

func pruneDoc(rep store.PruneReport) pruneJSON {
	return pruneJSON{doc, nonNil(rep.Blobs), rep.Leftovers, rep.BytesFreed, nonNil(rep.Missing), nonNil(rep.Images), rep.Artifacts}
}

// diff

type diffJSON struct {
	jsonDoc
	Changes []diffRow `json:"changes"`
}

type diffRow struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
}

// history

type historyJSON struct {
	jsonDoc
	History []historyRow `json:"history"`
}

// rmi

type rmiJSON struct {
	jsonDoc
	Untagged   []string        `json:"untagged"`
	Deleted    []string        `json:"deleted"`
	Freed      []digest.Digest `json:"freed"` // blobs freed; [] with --no-prune
	BytesFreed int64           `json:"bytes_freed"`
	Missing    []digest.Digest `json:"missing"`
	Errors     []jsonError     `json:"errors"` // REFs that could not be removed
}

func rmiDoc(untagged, deleted []string, freed *store.PruneReport, errs []error) rmiJSON {
	out := rmiJSON{jsonDoc: doc, Untagged: nonNil(untagged), Deleted: nonNil(deleted), Freed: []digest.Digest{},
		Missing: []digest.Digest{}, Errors: []jsonError{}}
	if freed != nil {
		out.Freed, out.BytesFreed, out.Missing = nonNil(freed.Blobs), freed.BytesFreed, nonNil(freed.Missing)
	}
	for _, err := range errs {
		out.Errors = append(out.Errors, errJSON(err))
	}
	return out
}

// keygen

type keygenJSON struct {
	jsonDoc
	KeyID      string `json:"key_id"`
	PrivateKey string `json:"private_key"` // path of the encrypted private key
	PublicKey  string `json:"public_key"`  // path of the public key
}
