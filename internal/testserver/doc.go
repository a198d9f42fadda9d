// Package testserver starts the servers the transport tests talk to: an
// embedded SFTP server (pkg/sftp over x/crypto/ssh), a real OpenSSH sshd,
// a real vsftpd (plain and explicit TLS), a real distribution registry
// (Debian's docker-registry, optionally with TLS and htpasswd), and a TCP proxy that cuts
// connections after a number of bytes. Everything listens on 127.0.0.1 and
// is stopped, by PID, when the test ends.
package testserver
