package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

var errHelp = errors.New("help requested")

// newFlags makes a subcommand's flag set. Every subcommand also takes --db so
// `redsweep calls --db x.db` works as well as `redsweep --db x.db calls`.
func newFlags(e *env, name, synopsis string) *flag.FlagSet {
	fs := newFlagsNoDB(e, name, synopsis)
	fs.Func("db", "SQLite database `path` (default $REDSWEEP_DB, else ./redsweep.db)", func(s string) error {
		e.dbPath, e.dbFromFlag = s, true
		return nil
	})
	return fs
}

// newFlagsNoDB is for commands that never touch the database.
func newFlagsNoDB(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "usage: redsweep %s %s\n\nflags:\n", name, synopsis)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses flags that may come before, between or after positional
// arguments (`mark 10.0.0.1 --outcome patched`), which the flag package alone
// does not allow.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp // the flag package has printed the usage
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// dbPath resolves the database path: --db, else $REDSWEEP_DB, else ./redsweep.db.
func (e *env) database() string {
	if e.dbFromFlag && e.dbPath != "" {
		return e.dbPath
	}
	if p := os.Getenv("REDSWEEP_DB"); p != "" {
		return p
	}
	return "redsweep.db"
}

// oneOf validates an enumerated flag value.
func oneOf(flagName, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return usagef("--%s %q: want one of %s", flagName, v, strings.Join(allowed, ", "))
}
