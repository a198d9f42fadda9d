package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/image"
)

// artifactView is a signature, attestation or SBOM attached to the image (or to one of
// its platform manifests), as inspect shows it.
type artifactView struct {
	Kind        string `json:"Kind"`
	Digest      string `json:"Digest"`
	Subject     string `json:"Subject"`
	SignerKeyID string `json:"SignerKeyID,omitempty"`
}

// inspectView is what inspect prints and what --format templates see. Field names follow
// docker inspect where one exists (.Id, .Config.Labels, .Os, .Architecture).
type inspectView struct {
	Id           string            `json:"Id"`
	RepoTags     []string          `json:"RepoTags"`
	Digest       string            `json:"Digest"`
	IndexDigest  string            `json:"IndexDigest,omitempty"`
	Created      string            `json:"Created"`
	Os           string            `json:"Os"`
	Architecture string            `json:"Architecture"`
	Variant      string            `json:"Variant,omitempty"`
	Size         int64             `json:"Size"`
	Config       v1.Config         `json:"Config"`
	RootFS       v1.RootFS         `json:"RootFS"`
	History      []v1.History      `json:"History"`
	Manifest     *ocispec.Manifest `json:"Manifest"`
	Artifacts    []artifactView    `json:"Artifacts"`
	ConfigFile   *v1.ConfigFile    `json:"-"`
}

func init() {
	var o struct {
		format   string
		platform string
	}
	register(&Command{
		Name:  "inspect",
		Usage: "[flags] REF",
		Short: "Show an image's config and manifest",
		Long: `Inspect prints the image's config and manifest as JSON, with its image ID (the config
digest, as 'docker images' shows it) and manifest digest, and the artifacts attached to
it (signatures, attestations, SBOMs: kind, digest, subject, and the key ID that verified a
signature when a policy checked it on load). --format takes a Go template
over the same fields, with a 'json' function.`,
		Example: `  imgx inspect example/hello:1.0
  imgx inspect --format '{{ json .Config.Labels }}' example/hello:1.0
  imgx inspect --format '{{ .Id }}' 3f2a9c1b`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&o.format, "format", "f", "", "format the output with a Go template")
			fs.StringVar(&o.platform, "platform", "", "platform to show from a multi-platform image (OS/ARCH[/VARIANT])")
		},
		Args: exactArgs(1, "REF"),
		Run: func(ctx context.Context, e *Env, args []string) error {
			s, err := e.Store()
			if err != nil {
				return err
			}
			var p *ocispec.Platform
			if o.platform != "" {
				pl, err := image.ParsePlatform(o.platform)
				if err != nil {
					return usagef("%v", err)
				}
				p = &pl
			}
			im, r, err := loadImage(ctx, s, args[0], p)
			if err != nil {
				return err
			}
			v := inspectView{
				Id: im.ID().String(), Digest: im.Desc.Digest.String(), RepoTags: []string{},
				Created: im.Config.Created.Time.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"),
				Os:      im.Config.OS, Architecture: im.Config.Architecture, Variant: im.Config.Variant,
				Size: im.Size(), Config: im.Config.Config, RootFS: im.Config.RootFS, History: im.Config.History,
				Manifest: im.Manifest, ConfigFile: im.Config,
			}
			if im.Index != nil {
				v.IndexDigest = im.Index.Digest.String()
			}
			top := r.Desc
			arts, err := s.ArtifactsOf(ctx, top)
			if err != nil {
				return err
			}
			v.Artifacts = []artifactView{}
			for _, a := range arts {
				v.Artifacts = append(v.Artifacts, artifactView{Kind: string(a.Kind), Digest: a.Desc.Digest.String(), Subject: a.Subject.String(), SignerKeyID: a.Signer})
			}
			entries, _ := s.Entries()
			for _, en := range entries {
				if en.Desc.Digest == r.Desc.Digest && !en.Ref.IsZero() {
					v.RepoTags = append(v.RepoTags, en.Ref.Familiar())
				}
			}
			if o.format == "" {
				return writeJSON(e.Stdout, v)
			}
			t, err := template.New("format").Funcs(template.FuncMap{
				"json": func(x any) (string, error) { b, err := json.Marshal(x); return string(b), err },
				"join": strings.Join,
			}).Parse(o.format)
			if err != nil {
				return usagef("--format: %v", err)
			}
			if err := t.Execute(e.Stdout, v); err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			fmt.Fprintln(e.Stdout)
			return nil
		},
	})
}
