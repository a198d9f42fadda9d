package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

func init() { ttyCmds["ttyexec"] = ttyExec }

// ttyExec is the script command "[!] ttyexec PROG ARGS...": it runs PROG with standard
// output on a pseudo-terminal, as a user at a shell would, and gives the script what the
// terminal received as stdout and the command's stderr as stderr.
func ttyExec(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: ttyexec PROG ARGS...")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	ts.Check(err)
	defer ptmx.Close()
	ts.Check(unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	ts.Check(err)
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	ts.Check(err)
	defer tty.Close()

	prog, err := exec.LookPath(args[0])
	if err != nil {
		// LookPath uses the test's PATH; the script's PATH holds the imgx built for it.
		for _, dir := range strings.Split(ts.Getenv("PATH"), string(os.PathListSeparator)) {
			if _, serr := os.Stat(dir + "/" + args[0]); serr == nil {
				prog, err = dir+"/"+args[0], nil
				break
			}
		}
	}
	ts.Check(err)
	cmd := exec.Command(prog, args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	for _, k := range []string{"PATH", "HOME", "WORK", "IMGX_STORE", "XDG_CONFIG_HOME", "IMGX_PASSWORD", "TMPDIR"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = tty, &stderr
	runErr := cmd.Run()
	tty.Close()
	// What reached the terminal: read until the pty is drained.
	var out bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		ptmx.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		k, rerr := ptmx.Read(buf)
		out.Write(buf[:k])
		if rerr != nil || out.Len() > 16<<20 {
			break
		}
	}
	fmt.Fprint(ts.Stdout(), out.String())
	fmt.Fprint(ts.Stderr(), stderr.String())
	var exit *exec.ExitError
	switch {
	case runErr != nil && !errors.As(runErr, &exit):
		ts.Fatalf("ttyexec %s: %v", args[0], runErr)
	case neg && runErr == nil:
		ts.Fatalf("unexpected success")
	case !neg && runErr != nil:
		ts.Fatalf("ttyexec %s: %v\n%s", args[0], runErr, stderr.String())
	}
	if runErr != nil {
		ts.Logf("[%v]", runErr)
	}
}
