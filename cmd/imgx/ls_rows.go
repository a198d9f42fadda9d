package main

import "github.com/imgx/imgx/ingest"

// lsRows turns a listing into the rows printed and put in the JSON document.
func lsRows(entries []ingest.Entry) []lsRow {
	rows := []lsRow{}
	for _, en := range entries {
		r := lsRow{Name: en.Name, Size: en.Size, Modified: en.ModTime, Dir: en.IsDir, err: en.Err, Encrypted: en.Encrypted}
		switch {
		case en.Encrypted && en.Bundle == nil && en.Err != nil:
			r.Error = "encrypted: " + encryptedReason(en.Err)
		case en.NotBundle:
			r.Error = "not a bundle"
		case en.Err != nil:
			r.Error = en.Err.Error()
		case en.Bundle != nil:
			d := en.Bundle
			r.Manifest, r.SignedBy, r.Sequence, r.Images = d.ManifestDigest.String(), d.SignedBy, &d.Sequence, d.Images
			if d.Base != nil {
				r.Base, r.base = d.Base.String(), baseOf(d.Base)
			}
		}
		rows = append(rows, r)
	}
	return rows
}
