package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"redsweep/fingerprint"
)

// maxFingerprintInput bounds what `redsweep fingerprint` reads: a response
// larger than this is cut, which only ever loses body bytes.
const maxFingerprintInput = 8 << 20

func runFingerprint(ctx context.Context, e *env, args []string) error {
	fs := newFlagsNoDB(e, "fingerprint", "[FILE|-]")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("takes one FILE (or - for stdin), got %d", len(pos))
	}
	var r io.Reader = e.stdin
	name := "stdin"
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		r, name = f, pos[0]
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxFingerprintInput))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if len(raw) == 0 {
		return fmt.Errorf("%s is empty: give a raw HTTP response, a header block, a body or a Server: line", name)
	}
	res := fingerprint.Analyze(raw)
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false) // snippets are HTML; keep them readable
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
