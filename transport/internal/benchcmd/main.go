// Command benchcmd does one upload or download with imgx's transport, for
// scripts/bench-transport.sh, which times it from outside the process the
// way it times OpenSSH and curl: connecting and logging in count. It prints
// the bytes moved.
//
//	benchcmd [flags] put FILE URL
//	benchcmd [flags] get URL FILE
//
// The SFTP knobs (-packet, -concurrency, -ciphers) and -cpuprofile are for
// measuring one knob at a time (notes in the commit log and the SFTP table of
// docs/benchmarks.md); their zero values are imgx's defaults.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/imgx/imgx/transport"
	"github.com/imgx/imgx/transport/dial"
	"github.com/imgx/imgx/transport/ftp"
)

func main() {
	identity := flag.String("identity", "", "SSH key file")
	knownHosts := flag.String("known-hosts", "", "known_hosts file")
	caFile := flag.String("cafile", "", "FTPS CA file")
	packet := flag.Int("packet", 0, "SFTP read/write request size in bytes (0: imgx's choice)")
	concurrency := flag.Int("concurrency", 0, "SFTP requests in flight per file (0: imgx's default)")
	ciphers := flag.String("ciphers", "", "comma-separated SSH ciphers in order of preference (empty: imgx's default)")
	interval := flag.Int64("interval", 0, "put: checkpoint interval in bytes (0: transport's default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the transfer to this file")
	flag.Parse()
	if flag.NArg() != 3 {
		fmt.Fprintln(os.Stderr, "usage: benchcmd put FILE URL | get URL FILE")
		os.Exit(2)
	}
	var opts dial.Options
	if *identity != "" {
		opts.SFTP.Identities = []string{*identity}
	}
	opts.SFTP.KnownHosts = *knownHosts
	opts.SFTP.SSHConfig = "none"
	opts.SFTP.NoAgent = true
	opts.SFTP.MaxPacket = *packet
	opts.SFTP.Concurrency = *concurrency
	if *ciphers != "" {
		opts.SFTP.Ciphers = strings.Split(*ciphers, ",")
	}
	opts.FTP.CAFile = *caFile
	opts.FTP.Netrc = "none"
	// The FTP login comes from the environment, as imgx's does (the library reads none).
	if pw, ok := os.LookupEnv(ftp.PasswordEnv); ok {
		opts.FTP.Login = &ftp.Login{User: os.Getenv(ftp.UserEnv), Password: pw}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchcmd:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "benchcmd:", err)
			os.Exit(1)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if err := run(context.Background(), flag.Arg(0), flag.Arg(1), flag.Arg(2), opts, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "benchcmd:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, op, a, b string, opts dial.Options, interval int64) error {
	url, file := b, a
	if op == "get" {
		url, file = a, b
	}
	loc, err := transport.ParseLocation(url)
	if err != nil {
		return err
	}
	be, name, err := dial.Open(ctx, loc, opts)
	if err != nil {
		return err
	}
	defer be.Close()
	var n int64
	switch op {
	case "put":
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		res, err := transport.Put(ctx, be, name, f, transport.PutOptions{NoResume: true, CheckpointInterval: interval})
		if err != nil {
			return err
		}
		n = res.Size
	case "get":
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		defer f.Close()
		if n, err = transport.Get(ctx, be, name, f, transport.GetOptions{}); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown operation %q", op)
	}
	fmt.Println(n)
	return nil
}
