// Command simnet serves redsweep's simulated customer network on loopback
// until SIGINT or SIGTERM. See internal/simnet for the personalities and file
// formats.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"redsweep/internal/simnet"
)

const usage = `usage: simnet -out DIR [flags]

Serves a simulated ISP customer network (IIS hosts, Code Red / Nimda infected
hosts, traps and broken servers) on loopback addresses only (127.0.0.0/8),
until SIGINT or SIGTERM.

Files in DIR:
  roster.csv     customer roster: ip,customer_id,name,phone,subnet,plan
  truth.jsonl    ground truth, one JSON object per roster address
                 (ip, port, personality, verdict, findings, confirm_verdict, ...)
  requests.log   every request line received, one JSON object per line
  cure.txt       read on SIGHUP: IP addresses (one per line, # comments) of
                 infected or vulnerable hosts to cure (they become patched,
                 clean IIS); truth.jsonl is rewritten afterwards

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, hup)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code (0 done, 1
// error, 2 bad usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, hup <-chan os.Signal) int {
	fs := flag.NewFlagSet("simnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var (
		prefix    = fs.String("prefix", "127.42.0.0/20", "address range to serve; must lie inside 127.0.0.0/8")
		port      = fs.Uint("port", 8080, "TCP port every host listens on (>= 1024 needs no root)")
		seed      = fs.Int64("seed", 1, "layout seed: the same seed gives the same network")
		hosts     = fs.Int("hosts", 300, fmt.Sprintf("hosts with a listener (at most %d)", simnet.MaxListeners))
		customers = fs.Int("customers", 0, "single-address customers, listening or not (default 2 x -hosts)")
		subnet    = fs.Int("subnet-bits", 24, "prefix length of the shared segment customers sit on")
		slow      = fs.Duration("slow-delay", 1500*time.Millisecond, "how long the slow host waits before answering")
		hostile   = fs.Bool("hostile", false, "add one host of each hostile kind (tarpit, endless body, garbage, ...)")
		out       = fs.String("out", "", "directory for roster.csv, truth.jsonl, requests.log and cure.txt (required)")
		ready     = fs.String("ready-file", "", "file written once every host listens, removed on exit")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "simnet: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case *out == "":
		return bad("-out DIR is required")
	case *port == 0 || *port > 65535:
		return bad("-port %d: want 1 to 65535", *port)
	case *hosts <= 0:
		return bad("-hosts %d: want at least 1", *hosts)
	}
	pfx, err := netip.ParsePrefix(*prefix)
	if err != nil {
		return bad("-prefix: %v", err)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "simnet: %v\n", err)
		return 1
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(err)
	}
	cfg := simnet.Config{
		Prefix: pfx, Port: uint16(*port), Seed: *seed, Hosts: *hosts, Customers: *customers,
		SubnetBits: *subnet, SlowDelay: *slow, Hostile: *hostile,
	}
	n, err := simnet.Start(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	defer n.Close()

	logPath := filepath.Join(*out, "requests.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	n.SetRequestLog(logf) // unbuffered: a script may read it while simnet runs

	rosterPath := filepath.Join(*out, "roster.csv")
	if err := writeAtomic(rosterPath, n.WriteRoster); err != nil {
		return fail(err)
	}
	truthPath := filepath.Join(*out, "truth.jsonl")
	if err := writeAtomic(truthPath, n.WriteTruth); err != nil {
		return fail(err)
	}
	if *ready != "" {
		err := writeAtomic(*ready, func(w io.Writer) error { _, err := fmt.Fprintf(w, "%d\n", os.Getpid()); return err })
		if err != nil {
			return fail(err)
		}
		defer os.Remove(*ready)
	}
	fmt.Fprintf(stdout, "simnet: serving %d hosts on %s port %d; roster %s\n", n.Listeners(), n.Prefix(), n.Port(), rosterPath)

	curePath := filepath.Join(*out, "cure.txt")
	for {
		select {
		case <-ctx.Done():
			if err := n.Close(); err != nil {
				return fail(err)
			}
			if err := n.RequestLogErr(); err != nil {
				return fail(fmt.Errorf("%s: %w", logPath, err))
			}
			return 0
		case <-hup:
			cured, errs := cureFrom(n, curePath)
			for _, e := range errs {
				fmt.Fprintf(stderr, "simnet: %v\n", e)
			}
			if err := writeAtomic(truthPath, n.WriteTruth); err != nil {
				fmt.Fprintf(stderr, "simnet: %v\n", err)
			}
			fmt.Fprintf(stdout, "simnet: cured %d hosts from %s\n", cured, curePath)
		}
	}
}

// cureFrom cures every address listed in path. Hosts already cured are
// skipped silently, so the file can grow over a session and be re-read.
func cureFrom(n *simnet.Network, path string) (cured int, errs []error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, []error{err}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s, _, _ := strings.Cut(sc.Text(), "#")
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s line %d: %q is not an IP address", path, line, s))
			continue
		}
		if h, ok := n.Host(a); ok && h.Cured {
			continue
		}
		if err := n.Cure(a); err != nil {
			errs = append(errs, fmt.Errorf("%s line %d: %w", path, line, err))
			continue
		}
		cured++
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	return cured, errs
}

// writeAtomic writes a file through a temporary file and a rename, so a
// reader never sees half of it.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
