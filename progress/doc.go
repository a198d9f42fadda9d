// Package progress reports how far a long operation has come, without the
// library knowing how (or whether) it is shown.
//
// Library code takes a [Progress] and calls SetTotal, Add and Done; [Noop]
// shows nothing. The renderers here ([NewBar] for a terminal, [NewPlain]
// for logs and pipes) are chosen by the command line with [New]
// (--progress=auto|bar|plain|none). Renderers never print more often than
// their interval, so Add may be called for every chunk.
package progress
