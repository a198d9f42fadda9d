package sftp

import (
	"sync"
	"sync/atomic"

	"github.com/pkg/sftp"
)

// remoteFlushEvery is how many bytes an upload writes between two background flushes.
const remoteFlushEvery = 32 << 20

// flusher makes the server write an upload's bytes to its disk while the upload goes on.
//
// Commit ends with fsync@openssh.com so that a published bundle is on the server's disk.
// The server's kernel starts writing dirty pages only when they are 30 s old or fill a
// tenth of its memory, so without help that fsync found the whole file still to write:
// 1.5 s of an 822 MB upload's 5.1 s on the bench machine, with the transfer stopped. The
// flusher asks for fsync on a second SFTP session (a second sftp-server process on the
// same SSH connection) every remoteFlushEvery bytes, so the disk writes while the first
// session keeps receiving, and Commit's fsync finds only the tail left. It is a hint:
// its answers are not trusted for anything, a server that refuses the second session or
// the fsync only loses the overlap, and durability still comes from Commit's own fsync.
type flusher struct {
	kick chan struct{} // cap 1: a flush is wanted
	quit chan struct{}
	done chan struct{}
	once sync.Once
	// synced counts the flushes the server acknowledged (tests).
	synced atomic.Int64
}

// startFlusher starts flushing path (the upload's temporary file) in the background on a
// new session of c; nil when the server has no fsync@openssh.com.
func startFlusher(c *connection, path string) *flusher {
	if v, ok := c.sftp.HasExtension("fsync@openssh.com"); !ok || v != "1" {
		return nil
	}
	fl := &flusher{kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go fl.run(c, path)
	return fl
}

func (fl *flusher) run(c *connection, path string) {
	defer close(fl.done)
	var cl *sftp.Client
	var f *sftp.File
	defer func() {
		if f != nil {
			f.Close()
		}
		if cl != nil {
			cl.Close()
		}
	}()
	for {
		select {
		case <-fl.quit:
			return
		case <-fl.kick:
		}
		if cl == nil { // the session starts at the first flush: small uploads pay nothing
			var err error
			if cl, err = sftp.NewClient(c.ssh); err != nil {
				cl = nil
				<-fl.quit // refused (MaxSessions): no overlap for this upload
				return
			}
			if f, err = cl.Open(path); err != nil { // read-only: fsync(2) does not need more
				f = nil
				<-fl.quit
				return
			}
		}
		if f.Sync() == nil {
			fl.synced.Add(1)
		}
	}
}

// flush asks for a flush; one already asked for and not started covers it.
func (fl *flusher) flush() {
	if fl == nil {
		return
	}
	select {
	case fl.kick <- struct{}{}:
	default:
	}
}

// stop ends the flusher; with wait, it returns once a flush under way has finished, so
// that the caller's own fsync finds that much less to write.
func (fl *flusher) stop(wait bool) {
	if fl == nil {
		return
	}
	fl.once.Do(func() { close(fl.quit) })
	if wait {
		<-fl.done
	}
}
