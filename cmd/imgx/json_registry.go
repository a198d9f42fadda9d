package main

import (
	"github.com/opencontainers/go-digest"

	"github.com/imgx/imgx/registry"
)

// pull

type pullJSON struct {
	jsonDoc
	Ref           string                    `json:"ref"`
	Digest        digest.Digest             `json:"digest"`
	MediaType     string                    `json:"media_type"`
	Size          int64                     `json:"size"`
	RemoteDigest  digest.Digest             `json:"remote_digest"`
	Platforms     []string                  `json:"platforms"`
	Trimmed       bool                      `json:"trimmed"`
	Blobs         int                       `json:"blobs"`
	Fetched       int                       `json:"fetched"`
	FetchedBytes  int64                     `json:"fetched_bytes"`
	AlreadyStored int                       `json:"already_stored"`
	Artifacts     []registry.PulledArtifact `json:"artifacts"`
}

func pullDoc(r *registry.PullResult) pullJSON {
	return pullJSON{doc, r.Ref, r.Desc.Digest, r.Desc.MediaType, r.Desc.Size, r.RemoteDigest, nonNil(r.Platforms), r.Trimmed,
		r.Blobs, r.Fetched, r.FetchedBytes, r.Present, nonNil(r.Artifacts)}
}

// push

type pushJSON struct {
	jsonDoc
	*registry.PushResult // already snake_case
}
