package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"filippo.io/age"
	"github.com/spf13/pflag"

	"github.com/imgx/imgx/bundle"
	"github.com/imgx/imgx/seal"
	"github.com/imgx/imgx/transport"
)

// encryptPassphraseEnv holds the passphrase of --encrypt-passphrase, and of a bundle
// encrypted to one on the receiving side.
const encryptPassphraseEnv = "IMGX_ENCRYPT_PASSPHRASE"

// encryptFlags are save's encryption flags.
type encryptFlags struct {
	to, toFile []string
	passphrase bool
}

func (f *encryptFlags) add(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.to, "encrypt-to", nil, "imgx: encrypt to this age recipient (age1…) or SSH public key (\"ssh-ed25519 AAAA…\"; repeatable)")
	fs.StringArrayVar(&f.toFile, "encrypt-to-file", nil, "imgx: encrypt to the recipients listed in FILE (one per line, as age -R; repeatable)")
	fs.BoolVar(&f.passphrase, "encrypt-passphrase", false, "imgx: encrypt to a passphrase from "+encryptPassphraseEnv+" or a prompt (no other recipient)")
}

func (f *encryptFlags) set() bool { return len(f.to)+len(f.toFile) > 0 || f.passphrase }

func (f *encryptFlags) recipients() ([]age.Recipient, error) {
	var out []age.Recipient
	for _, s := range f.to {
		r, err := seal.ParseRecipient(s)
		if err != nil {
			if fi, serr := os.Stat(s); serr == nil && fi.Mode().IsRegular() {
				return nil, usagef("--encrypt-to %s: that is a file; recipients files go to --encrypt-to-file", s)
			}
			return nil, usagef("--encrypt-to: %v", err)
		}
		out = append(out, r)
	}
	for _, p := range f.toFile {
		fh, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("--encrypt-to-file: %w", err)
		}
		rs, err := seal.ReadRecipients(fh, p)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("--encrypt-to-file: %w", err)
		}
		out = append(out, rs...)
	}
	if f.passphrase {
		if len(out) > 0 {
			return nil, usagef("--encrypt-passphrase excludes --encrypt-to and --encrypt-to-file (age allows a passphrase only alone)")
		}
		pw, err := envSecret(encryptPassphraseEnv, "Enter passphrase to encrypt the bundle: ", true)()
		if err != nil {
			return nil, withHint(fmt.Errorf("--encrypt-passphrase: %w", err), "set "+encryptPassphraseEnv+" or run on a terminal")
		}
		r, err := seal.PassphraseRecipient(pw)
		if err != nil {
			return nil, fmt.Errorf("--encrypt-passphrase: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// sealer encrypts one save's output. Its resume record (see seal.ResumeRecord) lives in
// the sender's state directory, named after the output, and goes once the file is out.
type sealer struct {
	rcpts   []age.Recipient
	record  string
	binding []byte
}

// sealer prepares encryption for a bundle save to output; nil when no flag asks for it.
// It hooks opts so that the resume record is bound to the manifest and signatures.
func (f *encryptFlags) sealer(output string, opts *bundle.SaveOptions) (*sealer, error) {
	if !f.set() {
		return nil, nil
	}
	rcpts, err := f.recipients()
	if err != nil {
		return nil, err
	}
	s := &sealer{rcpts: rcpts}
	if output != "-" && output != "" {
		dir, err := stateDir()
		if err != nil {
			return nil, fmt.Errorf("encrypted save: no state directory for the resume record: %w", err)
		}
		if loc, err := transport.ParseLocation(output); err == nil && loc.Scheme == transport.File {
			if abs, err := filepath.Abs(loc.Path); err == nil {
				output = abs
			}
		}
		s.record = seal.ResumePath(dir, output)
	}
	opts.BeforeWrite = func(manifest []byte, sigs [][]byte) error {
		s.binding = seal.BundleBinding(fmt.Sprintf("%s %s", opts.Compression, opts.Level), manifest, sigs)
		return nil
	}
	return s, nil
}

// save runs write (a bundle save) into an encrypting writer on w.
func (s *sealer) save(w io.Writer, write func(io.Writer) error) error {
	sw, err := seal.NewWriter(w, s.rcpts, seal.WriterOptions{ResumeFile: s.record, Binding: func() []byte { return s.binding }})
	if err != nil {
		return err
	}
	defer sw.Abort() // after a failed save: stop, without a final chunk
	if err := write(sw); err != nil {
		return err
	}
	return sw.Close()
}

// published drops the resume record once the file is complete at its destination.
func (s *sealer) published() error { return seal.DiscardResume(s.record) }

// stateDir is ${XDG_STATE_HOME:-~/.local/state}/imgx.
func stateDir() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "imgx"), nil
}
