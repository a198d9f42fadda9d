package change

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// defaultShell is what shell forms run under when the config has no Shell.
var defaultShell = []string{"/bin/sh", "-c"}

// state is what docker's builder tracks across one change list.
type state struct {
	cmdSet bool // a non-empty CMD was given earlier in this list
}

// Apply applies instructions in order as one change list, the way docker
// applies the --change values of one import or commit. In particular an
// ENTRYPOINT clears Cmd unless a CMD came earlier in the same call, so apply
// a list in one call, not one instruction per call. On error cfg is left
// unchanged.
func Apply(cfg *v1.Config, ins ...Instruction) error {
	work := copyConfig(cfg)
	st := &state{}
	for _, in := range ins {
		if err := applyOne(work, st, in); err != nil {
			return &Error{Instruction: in.Original, Err: err}
		}
	}
	*cfg = *work
	return nil
}

// ApplyAll parses changes with [ParseAll] and applies them with [Apply].
func ApplyAll(cfg *v1.Config, changes []string) error {
	ins, err := ParseAll(changes)
	if err != nil {
		return err
	}
	return Apply(cfg, ins...)
}

// Compile parses changes with [ParseAll] now, so a bad instruction is reported before any
// work starts, and returns a function that applies them with [Apply] (the shape
// image.ImportOptions.Changes takes).
func Compile(changes []string) (func(*v1.Config) error, error) {
	ins, err := ParseAll(changes)
	if err != nil {
		return nil, err
	}
	return func(cfg *v1.Config) error { return Apply(cfg, ins...) }, nil
}

func copyConfig(c *v1.Config) *v1.Config {
	out := *c
	out.Cmd = slices.Clone(c.Cmd)
	out.Entrypoint = slices.Clone(c.Entrypoint)
	out.Env = slices.Clone(c.Env)
	out.OnBuild = slices.Clone(c.OnBuild)
	out.Shell = slices.Clone(c.Shell)
	out.Labels = maps.Clone(c.Labels)
	out.Volumes = maps.Clone(c.Volumes)
	out.ExposedPorts = maps.Clone(c.ExposedPorts)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		out.Healthcheck = &h
	}
	return &out
}

func envLookup(env []string) lookupFunc {
	return func(name string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, _ := strings.Cut(env[i], "="); k == name {
				return v, true
			}
		}
		return "", false
	}
}

func applyOne(cfg *v1.Config, st *state, in Instruction) error {
	if len(in.Flags) > 0 && in.Cmd != "HEALTHCHECK" {
		return fmt.Errorf("unknown flag: %s", flagName(in.Flags[0]))
	}
	// Every expansion in one instruction sees the Env from before it.
	env := envLookup(slices.Clone(cfg.Env))
	word := func(s string) (string, error) { return processWord(s, env) }

	switch in.Cmd {
	case "CMD":
		cfg.Cmd = commandLine(cfg, in)
		if len(in.Args) > 0 {
			st.cmdSet = true
		}
	case "ENTRYPOINT":
		cfg.Entrypoint = commandLine(cfg, in)
		if !st.cmdSet {
			cfg.Cmd = nil
		}
	case "ENV", "LABEL":
		if len(in.Args) == 0 || len(in.Args)%2 != 0 {
			return fmt.Errorf("%s needs name/value pairs", in.Cmd)
		}
		kv := make([]string, len(in.Args))
		for i, a := range in.Args {
			v, err := word(a)
			if err != nil {
				return err
			}
			kv[i] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i] == "" {
				return fmt.Errorf("%s names can not be blank (%q expands to nothing)", in.Cmd, in.Args[i])
			}
			if in.Cmd == "ENV" {
				setEnv(cfg, kv[i], kv[i+1])
			} else {
				if cfg.Labels == nil {
					cfg.Labels = map[string]string{}
				}
				cfg.Labels[kv[i]] = kv[i+1]
			}
		}
	case "EXPOSE":
		var ports []string
		for _, a := range in.Args {
			ws, err := processWords(a, env)
			if err != nil {
				return err
			}
			for _, w := range ws {
				ps, err := parsePorts(w)
				if err != nil {
					return err
				}
				ports = append(ports, ps...)
			}
		}
		if len(ports) > 0 && cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
	case "VOLUME":
		var vols []string
		for _, a := range in.Args {
			v, err := word(strings.TrimSpace(a))
			if err != nil {
				return err
			}
			if v == "" {
				return errors.New("VOLUME path can not be an empty string")
			}
			vols = append(vols, v)
		}
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range vols {
			cfg.Volumes[v] = struct{}{}
		}
	case "USER", "WORKDIR", "STOPSIGNAL":
		if len(in.Args) != 1 {
			return fmt.Errorf("%s requires exactly one argument", in.Cmd)
		}
		v, err := word(in.Args[0])
		if err != nil {
			return err
		}
		switch in.Cmd {
		case "USER":
			cfg.User = v
		case "WORKDIR":
			if v == "" {
				return fmt.Errorf("WORKDIR %q expands to an empty path", in.Args[0])
			}
			if path.IsAbs(v) {
				cfg.WorkingDir = path.Clean(v)
			} else {
				cfg.WorkingDir = path.Join("/", cfg.WorkingDir, v)
			}
		case "STOPSIGNAL":
			if err := checkSignal(v); err != nil {
				return err
			}
			cfg.StopSignal = v
		}
	case "ONBUILD":
		if len(in.Args) != 1 {
			return errors.New("ONBUILD requires a trigger instruction")
		}
		cfg.OnBuild = append(cfg.OnBuild, in.Args[0])
	case "HEALTHCHECK":
		h, err := healthConfig(in)
		if err != nil {
			return err
		}
		cfg.Healthcheck = h
	default:
		return fmt.Errorf("unknown instruction %q: %w", in.Cmd, ErrNotAllowed)
	}
	return nil
}

// commandLine resolves CMD/ENTRYPOINT arguments like docker's resolveCmdLine
// on POSIX: exec forms as given, shell forms behind the image's shell.
func commandLine(cfg *v1.Config, in Instruction) []string {
	if len(in.Args) == 0 {
		return nil
	}
	if in.JSON {
		return slices.Clone(in.Args)
	}
	sh := defaultShell
	if len(cfg.Shell) > 0 {
		sh = cfg.Shell
	}
	return append(slices.Clone(sh), strings.Join(in.Args, " "))
}

// setEnv replaces the first entry with the same name in place, or appends.
func setEnv(cfg *v1.Config, k, v string) {
	for i, e := range cfg.Env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			cfg.Env[i] = k + "=" + v
			return
		}
	}
	cfg.Env = append(cfg.Env, k+"="+v)
}

const maxPort = 65535

// parsePorts turns "80", "80/udp" or "8000-8002/tcp" into "80/tcp" keys.
func parsePorts(spec string) ([]string, error) {
	portPart, proto, hasProto := strings.Cut(spec, "/")
	if hasProto {
		proto = strings.ToLower(proto)
		switch proto {
		case "tcp", "udp", "sctp":
		default:
			return nil, fmt.Errorf("invalid protocol %q in port %q (want tcp, udp or sctp)", proto, spec)
		}
	} else {
		proto = "tcp"
	}
	if strings.Contains(portPart, ":") {
		return nil, fmt.Errorf("port %q: host mappings are not allowed in EXPOSE", spec)
	}
	lo, hi := portPart, portPart
	if a, b, ok := strings.Cut(portPart, "-"); ok {
		lo, hi = a, b
	}
	start, err := portNumber(lo)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q", spec)
	}
	end, err := portNumber(hi)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q", spec)
	}
	if start > end {
		return nil, fmt.Errorf("invalid port range %q: start is after end", spec)
	}
	out := make([]string, 0, end-start+1)
	for p := start; p <= end; p++ {
		out = append(out, strconv.Itoa(p)+"/"+proto)
	}
	return out, nil
}

func portNumber(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a number")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPort {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// signals are the Linux signal names docker accepts (without SIG).
var signals = map[string]bool{
	"ABRT": true, "ALRM": true, "BUS": true, "CHLD": true, "CLD": true, "CONT": true, "FPE": true,
	"HUP": true, "ILL": true, "INT": true, "IO": true, "IOT": true, "KILL": true, "PIPE": true,
	"POLL": true, "PROF": true, "PWR": true, "QUIT": true, "SEGV": true, "STKFLT": true, "STOP": true,
	"SYS": true, "TERM": true, "TRAP": true, "TSTP": true, "TTIN": true, "TTOU": true, "URG": true,
	"USR1": true, "USR2": true, "VTALRM": true, "WINCH": true, "XCPU": true, "XFSZ": true,
	"RTMIN": true, "RTMAX": true,
}

func checkSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return fmt.Errorf("invalid signal %q: number must be 1..64", s)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if signals[name] {
		return nil
	}
	for _, base := range []string{"RTMIN+", "RTMAX-"} {
		if rest, ok := strings.CutPrefix(name, base); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 1 && n <= 15 && rest[0] != '+' && rest[0] != '-' {
				return nil
			}
		}
	}
	return fmt.Errorf("invalid signal %q", s)
}

func healthConfig(in Instruction) (*v1.HealthConfig, error) {
	if len(in.Args) == 0 {
		return nil, errors.New("HEALTHCHECK requires NONE or CMD")
	}
	if in.Args[0] == "NONE" {
		if len(in.Args) > 1 || len(in.Flags) > 0 {
			return nil, errors.New("HEALTHCHECK NONE takes no arguments or flags")
		}
		return &v1.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if in.Args[0] != "CMD" || len(in.Args) < 2 {
		return nil, errors.New("HEALTHCHECK requires NONE or CMD followed by a command")
	}
	h := &v1.HealthConfig{}
	if in.JSON {
		h.Test = slices.Clone(in.Args)
	} else {
		h.Test = []string{"CMD-SHELL", strings.Join(in.Args[1:], " ")}
	}
	seen := map[string]bool{}
	for _, f := range in.Flags {
		name, val, hasVal := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if seen[name] {
			return nil, fmt.Errorf("duplicate flag specified: %s", name)
		}
		seen[name] = true
		var dst *time.Duration
		switch name {
		case "interval":
			dst = &h.Interval
		case "timeout":
			dst = &h.Timeout
		case "start-period":
			dst = &h.StartPeriod
		case "retries":
		case "start-interval":
			return nil, errors.New("--start-interval is not supported: the image config model has no field for it")
		default:
			return nil, fmt.Errorf("unknown flag: %s", name)
		}
		if !hasVal {
			return nil, fmt.Errorf("missing a value on flag: %s", name)
		}
		if name == "retries" {
			n, err := strconv.ParseInt(val, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--retries %q: not a number", val)
			}
			if n < 0 {
				return nil, fmt.Errorf("--retries cannot be negative (%d)", n)
			}
			h.Retries = int(n)
			continue
		}
		if val == "" {
			continue
		}
		d, err := time.ParseDuration(val)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: %w", name, val, err)
		}
		if d != 0 && d < time.Millisecond {
			return nil, fmt.Errorf("--%s %q cannot be less than 1ms", name, val)
		}
		*dst = d
	}
	return h, nil
}
