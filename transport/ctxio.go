package transport

import (
	"context"
	"io"
)

// ContextReader makes rc stop with ctx's error at the next Read once ctx
// is done. Backends use it for the readers Open returns.
func ContextReader(ctx context.Context, rc io.ReadCloser) io.ReadCloser {
	return &ctxReader{ctx: ctx, rc: rc}
}

type ctxReader struct {
	ctx context.Context
	rc  io.ReadCloser
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.rc.Read(p)
}

// WriteTo keeps a backend's fast path (pkg/sftp reads concurrently in
// WriteTo) while still honouring ctx between chunks.
func (r *ctxReader) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := r.rc.(io.WriterTo); ok {
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		return wt.WriteTo(&ctxWriter{r.ctx, w})
	}
	return io.CopyBuffer(w, struct{ io.Reader }{r}, make([]byte, 1<<20))
}

func (r *ctxReader) Close() error { return r.rc.Close() }

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w *ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}
