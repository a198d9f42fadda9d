// Package sftp stores bundles on an SFTP server, over SSH
// (golang.org/x/crypto/ssh and github.com/pkg/sftp).
//
// Uploads write .NAME.imgx-part and publish with the posix-rename@openssh.com
// extension, which replaces the target atomically. Reads and writes are
// pipelined across calls: a file keeps up to 16 requests in flight, reading
// ahead or writing behind, whatever the size of the caller's reads and
// writes; requests are 255 KiB where the sftp-server is OpenSSH 8.6 or later
// (what it and OpenSSH's own sftp client use), and aes128-gcm is the
// preferred cipher. On the measured machine that brings pkg/sftp to about
// OpenSSH's own speed (ROWS=sftp scripts/bench.sh). A short answer to a read
// (which the protocol allows) costs a round trip, never a byte.
//
// Authentication uses ssh-agent ([Options.AgentSocket]) and key files: those
// given in [Options.Identities], those named by IdentityFile in ~/.ssh/config,
// or the usual ~/.ssh/id_* files. An encrypted key is opened with what
// [Options.Passphrase] returns. Servers that take passwords (password or
// keyboard-interactive) get what [Options.Password] returns, after the keys.
// The package reads no environment variable: the imgx command line fills
// these from $SSH_AUTH_SOCK, $USER, $IMGX_SSH_PASSPHRASE and
// $IMGX_SSH_PASSWORD, and prompts on the terminal. Host, user, port and
// identities come from the matching Host entries of ~/.ssh/config.
//
// The server's host key must be in ~/.ssh/known_hosts (or
// [Options.KnownHosts]). An unknown or changed key is refused with its
// SHA256 fingerprint, a permanent error; only
// [Options.InsecureIgnoreHostKey] turns the check off.
package sftp
