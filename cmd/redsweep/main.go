// Command redsweep finds customers' IIS servers infected with or exposed to
// Code Red, Code Red II and Nimda, and lists whom to call, worst subnet first.
//
// This file holds flags and wiring only: each subcommand parses its flags,
// opens the store, calls a package and prints what it returns.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"redsweep/fingerprint"
)

// Exit codes, documented in README.md; cron jobs depend on them.
const (
	exitOK             = 0 // done, nothing new
	exitError          = 1 // something failed
	exitUsage          = 2 // bad command line
	exitNewInfections  = 3 // done, and the sweep found infections that were not there before
	exitInterruptedRun = 130
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what every subcommand gets: where to write and which database.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	dbPath         string // resolved from --db, REDSWEEP_DB, ./redsweep.db
	dbFromFlag     bool
}

var commands = []command{
	{"customers", "import the customer roster (customers import FILE.csv)", runCustomers},
	{"sweep", "probe customer addresses for IIS, Code Red and Nimda", runSweep},
	{"calls", "list infected and vulnerable customers by subnet, worst first", runCalls},
	{"mark", "record a call outcome for an IP or customer", runMark},
	{"history", "show everything known about an IP or customer, in time order", runHistory},
	{"diff", "what changed between two sweeps", runDiff},
	{"export", "one record per target of a sweep (ndjson or csv)", runExport},
	{"fingerprint", "identify the server behind one raw HTTP response", runFingerprint},
	{"ingest", "read customers' web-server logs for worm attacks", runIngest},
	{"sniff", "read packet captures (or an interface) for worm traffic", runSniff},
	{"sweeps", "list sweeps", runSweeps},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, stdin: stdin}
	// Global flags come before the subcommand: only --db (and -h).
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "-h" || a == "--help" || a == "help":
			usage(stdout)
			return exitOK
		case a == "--db" || a == "-db":
			if len(args) < 2 {
				fmt.Fprintln(stderr, "redsweep: --db needs a path")
				return exitUsage
			}
			e.dbPath, e.dbFromFlag = args[1], true
			args = args[2:]
			continue
		case len(a) > 5 && (a[:5] == "--db=" || (len(a) > 4 && a[:4] == "-db=")):
			e.dbPath, e.dbFromFlag = a[indexByte(a, '=')+1:], true
			args = args[1:]
			continue
		case len(a) > 0 && a[0] == '-':
			fmt.Fprintf(stderr, "redsweep: unknown flag %s before the command (run 'redsweep help')\n", a)
			return exitUsage
		}
		break
	}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	for _, c := range commands {
		if c.name != name {
			continue
		}
		// A broken signature file must stop the tool, not silently miss worms.
		if err := fingerprint.CheckRules(); err != nil {
			fmt.Fprintf(stderr, "redsweep: fingerprint rules: %v\n", err)
			return exitError
		}
		err := c.run(ctx, e, args[1:])
		return exitCode(stderr, name, err)
	}
	fmt.Fprintf(stderr, "redsweep: unknown command %q (run 'redsweep help')\n", name)
	return exitUsage
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: redsweep [--db PATH] COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "database: --db PATH, else $REDSWEEP_DB, else ./redsweep.db")
	fmt.Fprintln(w, "exit codes: 0 done, 1 error, 2 bad usage, 3 sweep found new infections, 130 interrupted")
	fmt.Fprintln(w, "run 'redsweep COMMAND -h' for a command's flags")
}

// usageError marks a bad command line (exit 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// errNewInfections is returned by sweep when it finished and found new
// infections: not a failure, but cron must notice (exit 3).
var errNewInfections = errors.New("new infections found")

// errSilent carries an exit code whose message was already printed.
type errSilent struct{ code int }

func (e errSilent) Error() string { return fmt.Sprintf("exit %d", e.code) }

func exitCode(stderr io.Writer, name string, err error) int {
	var ue usageError
	var es errSilent
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, errNewInfections):
		return exitNewInfections
	case errors.As(err, &es):
		return es.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "redsweep %s: %s\n", name, ue.msg)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "redsweep %s: %v\n", name, err)
		return exitError
	}
}
