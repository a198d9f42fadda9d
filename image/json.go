package image

import (
	"bytes"
	"encoding/json"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func marshalManifest(m *ocispec.Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
