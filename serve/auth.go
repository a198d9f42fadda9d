package serve

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Htpasswd holds bcrypt password hashes, as `htpasswd -B` writes them.
type Htpasswd struct {
	users map[string][]byte

	mu   sync.Mutex
	ok   map[string][sha256.Size]byte // user → hash of the last password bcrypt accepted
	slot chan struct{}                // bounds concurrent bcrypt runs (CPU)
}

// maxHtpasswd bounds the htpasswd file read.
const maxHtpasswd = 4 << 20

// ParseHtpasswd reads "user:hash" lines; blank lines and # comments are skipped. Only
// bcrypt hashes ($2a$, $2b$, $2y$) are accepted: the MD5, SHA-1 and crypt forms htpasswd
// can also write are too weak and are refused, naming the line.
func ParseHtpasswd(r io.Reader) (*Htpasswd, error) {
	h := &Htpasswd{users: map[string][]byte{}, ok: map[string][sha256.Size]byte{}, slot: make(chan struct{}, 2)}
	sc := bufio.NewScanner(io.LimitReader(r, maxHtpasswd))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("htpasswd line %d: want user:hash", n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil || !strings.HasPrefix(hash, "$2") {
			return nil, fmt.Errorf("htpasswd line %d (user %q): not a bcrypt hash (create it with htpasswd -B)", n, user)
		}
		h.users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read htpasswd: %w", err)
	}
	if len(h.users) == 0 {
		return nil, fmt.Errorf("htpasswd: no users")
	}
	return h, nil
}

// check reports whether user and password match. A password bcrypt accepted once is
// remembered (as a SHA-256) so that a pull of many blobs does not pay bcrypt per request.
func (h *Htpasswd) check(user, pass string) bool {
	hash, known := h.users[user]
	sum := sha256.Sum256([]byte(pass))
	h.mu.Lock()
	prev, seen := h.ok[user]
	h.mu.Unlock()
	if known && seen && subtle.ConstantTimeCompare(prev[:], sum[:]) == 1 {
		return true
	}
	if !known {
		hash = dummyHash() // same cost for unknown users: no user enumeration by timing
	}
	h.slot <- struct{}{}
	err := bcrypt.CompareHashAndPassword(hash, []byte(pass))
	<-h.slot
	if err != nil || !known {
		return false
	}
	h.mu.Lock()
	h.ok[user] = sum
	h.mu.Unlock()
	return true
}

var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("imgx-serve-dummy"), bcrypt.DefaultCost)
	return h
})

func (h *Htpasswd) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok && h.check(u, p) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="imgx"`)
		writeError(w, r, http.StatusUnauthorized, codeUnauthorized, "authentication required", nil)
	})
}
