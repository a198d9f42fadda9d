package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/imgx/imgx/store"
)

// Options configure [Serve]. Zero durations take the defaults below.
type Options struct {
	// TLSCertFile and TLSKeyFile, both or neither, serve HTTPS.
	TLSCertFile, TLSKeyFile string
	// Auth, if set, requires HTTP basic authentication for every request.
	Auth *Htpasswd
	// AccessLog gets one record per request; nil logs nothing. Errors reading the
	// store go to it too.
	AccessLog *slog.Logger
	// ReadHeaderTimeout drops a client that has not sent its request headers in time
	// (slow-loris). Default 10 s.
	ReadHeaderTimeout time.Duration
	// StallTimeout drops a client that accepts no response bytes for this long, so a
	// reader that stops reading does not hold a file and a goroutine forever. Default 60 s.
	StallTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default 60 s.
	IdleTimeout time.Duration
	// MaxConns bounds the connections served at once; more wait to be accepted.
	// Default 1024.
	MaxConns int
	// ShutdownTimeout is how long responses in flight may finish once ctx is
	// cancelled before connections are closed. Default 10 s.
	ShutdownTimeout time.Duration
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, 10*time.Second)
	def(&o.StallTimeout, 60*time.Second)
	def(&o.IdleTimeout, 60*time.Second)
	def(&o.ShutdownTimeout, 10*time.Second)
	if o.MaxConns <= 0 {
		o.MaxConns = 1024
	}
}

// Server is a configured read-only registry, ready to serve.
type Server struct {
	h   *Handler
	srv *http.Server
	o   Options
}

// New checks o (the TLS key pair loads) and prepares to serve st.
func New(st *store.Store, o Options) (*Server, error) {
	o.defaults()
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return nil, errors.New("serve: TLS needs both a certificate and a key")
	}
	var tlsConf *tls.Config
	if o.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("serve: load TLS certificate: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	h, err := NewHandler(st, o.AccessLog)
	if err != nil {
		return nil, err
	}
	var handler http.Handler = h
	if o.Auth != nil {
		handler = o.Auth.wrap(handler)
	}
	handler = accessLog(o.AccessLog, o.StallTimeout, handler)
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadHeaderTimeout + 20*time.Second, // requests have no bodies worth waiting for
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(discardOr(o.AccessLog).Handler(), slog.LevelWarn),
	}
	return &Server{h: h, srv: srv, o: o}, nil
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully: it stops
// accepting, lets responses in flight finish for up to ShutdownTimeout, closes what is
// left, and returns nil. It closes ln and the Server; a Server serves once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.h.Close()
	s.srv.BaseContext = func(net.Listener) context.Context { return ctx }
	ln = newLimitListener(ln, s.o.MaxConns)
	if s.srv.TLSConfig != nil {
		ln = tls.NewListener(ln, s.srv.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.o.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func discardOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// accessLog logs one record per request (method, path, status, bytes, duration,
// remote) and gives each response write a deadline of stall from the moment it starts.
func accessLog(log *slog.Logger, stall time.Duration, next http.Handler) http.Handler {
	log = discardOr(log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.RequestURI()),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

// recorder notes status and bytes, and pushes the write deadline forward as bytes go
// out. It forwards ReadFrom so that blobs still go out with sendfile.
type recorder struct {
	http.ResponseWriter
	rc     *http.ResponseController
	stall  time.Duration
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	_ = r.rc.SetWriteDeadline(time.Now().Add(r.stall))
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// readChunk is how much goes out per write deadline when copying a file.
const readChunk = 4 << 20

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wrote = true
	rf, ok := r.ResponseWriter.(io.ReaderFrom)
	lr, isLimited := src.(*io.LimitedReader)
	if !ok || !isLimited {
		return io.Copy(struct{ io.Writer }{r}, src)
	}
	if _, isFile := lr.R.(*os.File); !isFile {
		return io.Copy(struct{ io.Writer }{r}, src)
	}
	// One *io.LimitedReader over the *os.File per chunk, so that net's sendfile still
	// recognises it.
	var total int64
	for lr.N > 0 {
		_ = r.rc.SetWriteDeadline(time.Now().Add(r.stall))
		chunk := &io.LimitedReader{R: lr.R, N: min(lr.N, readChunk)}
		n, err := rf.ReadFrom(chunk)
		lr.N -= n
		total += n
		r.bytes += n
		if err != nil {
			return total, err
		}
		if n == 0 {
			break
		}
	}
	return total, nil
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
