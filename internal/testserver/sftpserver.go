package testserver

import (
	"net"
	"sync"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SFTPServer is an in-process SSH server whose only service is pkg/sftp's
// server on the real filesystem.
type SFTPServer struct {
	Addr string
	Keys *SSHKeys
	l    net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]bool
}

// StartSFTP starts the server on 127.0.0.1:0 and stops it when t ends.
// Only Keys.ClientKey is accepted; Keys.KnownHosts holds the host key.
func StartSFTP(t testing.TB) *SFTPServer {
	t.Helper()
	return StartSFTPPassword(t, "", false)
}

// StartSFTPPassword is StartSFTP that also accepts password, for any user: as
// "password" authentication, or with interactive set only as
// "keyboard-interactive" (one echo-off prompt), as PAM-based servers ask.
func StartSFTPPassword(t testing.TB, password string, interactive bool) *SFTPServer {
	t.Helper()
	keys := NewSSHKeys(t)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(keys.ClientPub.Marshal()) {
				return nil, nil
			}
			return nil, errUnknownKey
		},
	}
	switch {
	case password != "" && interactive:
		cfg.KeyboardInteractiveCallback = func(_ ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			ans, err := ask("", "", []string{"Password: "}, []bool{false})
			if err != nil || len(ans) != 1 || ans[0] != password {
				return nil, errBadPassword
			}
			return nil, nil
		}
	case password != "":
		cfg.PasswordCallback = func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if string(pw) != password {
				return nil, errBadPassword
			}
			return nil, nil
		}
	}
	cfg.AddHostKey(keys.HostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SFTPServer{Addr: l.Addr().String(), Keys: keys, l: l, open: map[net.Conn]bool{}}
	WriteKnownHosts(t, keys.KnownHosts, s.Addr, keys.HostSigner.PublicKey())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.open[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c, cfg)
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

type stringError string

func (e stringError) Error() string { return string(e) }

const (
	errUnknownKey  = stringError("unknown public key")
	errBadPassword = stringError("wrong password")
)

func (s *SFTPServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			for req := range creqs {
				ok := req.Type == "subsystem" && len(req.Payload) >= 4 && string(req.Payload[4:]) == "sftp"
				req.Reply(ok, nil)
				if ok {
					srv, err := sftp.NewServer(ch)
					if err == nil {
						srv.Serve()
						srv.Close()
					}
					ch.Close()
				}
			}
		}()
	}
}

// Close stops accepting, closes open connections and waits for them.
func (s *SFTPServer) Close() {
	s.l.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
