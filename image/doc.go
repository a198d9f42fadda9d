// Package image is imgx's image model and the operations on whole images: load an image
// (manifest, config, layers) from a store, import a filesystem tar as a one-layer image with
// Dockerfile-style config changes, and flatten a layered image into a one-layer image.
//
// Configs use go-containerregistry's v1.ConfigFile, which carries every field Docker writes
// (OnBuild, Healthcheck, ArgsEscaped, …); manifests and descriptors use image-spec's types,
// which read Docker schema-2 documents as well.
package image
