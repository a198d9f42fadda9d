// Package change parses the Dockerfile instructions that `docker import
// --change` and `docker commit --change` accept, and applies them to an image
// config (go-containerregistry's [v1.Config]).
//
// It follows moby's BuildFromConfig: the changes are joined with newlines and
// read as Dockerfile lines (comments, blank lines and `\` continuations
// included), only CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
// STOPSIGNAL, USER, VOLUME and WORKDIR are allowed, and the whole list is
// applied atomically: on error the config is left untouched.
//
// # Variable expansion
//
// Docker does expand variables in --change, so this package does too: ENV,
// EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR arguments go through the
// Dockerfile word rules (quotes, `\` escapes, $VAR, ${VAR}, ${VAR:-word},
// ${VAR:+word}, ${VAR:?msg} and the colon-less forms) against the config's Env
// as it stands when the instruction runs, so `ENV A=1` followed by
// `WORKDIR /$A` gives /1, while the pairs on one ENV line all see the Env from
// before that line. CMD, ENTRYPOINT, HEALTHCHECK and ONBUILD are never
// expanded (the shell or the later build does that).
//
// # Where this is stricter than docker
//
//   - An exec form that starts with `[` but is not a JSON array of strings is
//     an error; docker silently runs it as a shell command instead, which is
//     almost always a quoting mistake.
//   - EXPOSE rejects host mappings (80:80) and port 0.
//   - An ONBUILD trigger must be a known Dockerfile instruction; triggers that
//     are themselves change commands are checked for syntax now, not at the
//     later build.
//   - HEALTHCHECK --start-interval is rejected: v1.HealthConfig cannot hold it.
//   - STOPSIGNAL numbers must be 1..64.
//   - There are no parser directives: the escape character is always `\`.
//   - Only POSIX images: shell forms use the config's Shell or /bin/sh -c and
//     ArgsEscaped is never changed (docker changes it only for Windows).
package change
