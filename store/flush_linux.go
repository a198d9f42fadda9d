package store

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// flushWriter starts writeback of each 8 MiB written (sync_file_range without waiting),
// so the disk works while the blob is still being hashed and written and the final fsync
// finds little left to do. Durability still comes from that fsync alone.
type flushWriter struct {
	f       *os.File
	rc      syscall.RawConn
	off     int64
	flushed int64
}

const flushChunk = 8 << 20

func newFlushWriter(f *os.File) io.Writer {
	rc, err := f.SyscallConn()
	if err != nil {
		return f
	}
	return &flushWriter{f: f, rc: rc}
}

func (w *flushWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.flushed >= flushChunk {
		from, length := w.flushed, w.off-w.flushed
		_ = w.rc.Control(func(fd uintptr) {
			_ = unix.SyncFileRange(int(fd), from, length, unix.SYNC_FILE_RANGE_WRITE) // a hint: errors do not matter
		})
		w.flushed = w.off
	}
	return n, err
}
