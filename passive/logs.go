package passive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"redsweep/store"
	"redsweep/triage"
)

// Log formats accepted by Ingest.
const (
	FormatAuto        = "auto"
	FormatCommon      = "common"       // Apache/NCSA common log format
	FormatCombined    = "combined"     // common + referer + user agent (parsed like common)
	FormatApacheError = "apache-error" // Apache 1.3/2.x error_log
	FormatW3C         = "w3c"          // IIS W3C extended log (#Fields header)
	FormatIPList      = "iplist"       // one address a line, optional worm word, # comments
)

// Formats lists the formats Ingest understands, auto first.
var Formats = []string{FormatAuto, FormatCommon, FormatCombined, FormatApacheError, FormatW3C, FormatIPList}

const (
	maxLineLen      = 64 << 10 // longer lines are reported as bad and skipped
	defaultBadLines = 20       // LineErrors kept in IngestStats.BadLines
	detectLines     = 16       // non-blank lines looked at to detect the format
)

// IngestOptions steer Ingest. The zero value detects the format, assumes UTC
// for logs without a zone and stamps plain IP lists with the time of ingest.
type IngestOptions struct {
	Format   string         // one of Formats; "" means auto
	Reporter string         // who sent the log; copied into every Evidence
	Location *time.Location // zone of Apache error-log times (they carry none); nil = UTC
	// ListCode is the finding code for iplist lines that name no worm;
	// "" means codered2-traffic (the worm customers were reporting in August 2001).
	ListCode string
	// Now stamps iplist entries (a list carries no times); zero = time.Now().
	Now time.Time
	// MaxBadLines caps IngestStats.BadLines (all bad lines are still counted); 0 = 20.
	MaxBadLines int
}

// LineError is one line Ingest could not parse.
type LineError struct {
	File string
	Line int    // 1-based
	Err  string // what was wrong
	Text string // a short excerpt of the line
}

func (e LineError) Error() string { return fmt.Sprintf("%s:%d: %s: %q", e.File, e.Line, e.Err, e.Text) }

// IngestStats is what Ingest read.
type IngestStats struct {
	File     string
	Format   string // the format used (detected or given); never FormatAuto when Ingest succeeds
	Gzip     bool
	Lines    int // lines read, blank and comment lines included
	Matched  int // lines that produced evidence
	Skipped  int // blank lines, comments and directives
	Bad      int // lines that could not be parsed (see BadLines)
	BadLines []LineError
	ByCode   map[string]int // matched lines per finding code

	// Sources is the number of distinct source addresses in the evidence
	// (the evidence has one record per (source, code)).
	Sources int
}

// Ingest reads one customer log (plain or gzip, detected by magic bytes) and
// returns per-(source, code) evidence with Source = triage.SourceReport.
// The source IP of a worm line is the attacker: the infected host.
//
// Bad lines are counted, the first MaxBadLines kept with their line numbers;
// they never stop the ingest. A read error (a gzip that ends early, a failing
// reader) or a cancelled ctx ends it: the error names the file and line, and
// the stats and evidence read so far are returned with it.
//
// With FormatAuto, an input none of whose first lines tells the format
// (junk, over-long lines, or nothing but blank and comment lines, an empty
// file included) is an error: "cannot tell the log format of NAME (first
// lines look like ...); give --format ...", with over-long lines counted as
// bad. A given format reads such an input without error.
func Ingest(ctx context.Context, r io.Reader, name string, opt IngestOptions) (IngestStats, []store.Evidence, error) {
	st := IngestStats{File: name, Format: opt.Format, ByCode: map[string]int{}}
	if st.Format == "" {
		st.Format = FormatAuto
	}
	if !validFormat(st.Format) {
		return st, nil, fmt.Errorf("ingest %s: unknown format %q (want one of %v)", name, opt.Format, Formats)
	}
	in := &ingester{
		name: name, opt: opt, st: &st,
		agg: newAggregator(triage.SourceReport, opt.Reporter),
		loc: opt.Location,
	}
	if in.loc == nil {
		in.loc = time.UTC
	}
	if in.opt.MaxBadLines <= 0 {
		in.opt.MaxBadLines = defaultBadLines
	}
	if in.opt.Now.IsZero() {
		in.opt.Now = time.Now()
	}
	if in.opt.ListCode == "" {
		in.opt.ListCode = triage.CodeRed2Traffic
	}

	br, gz, err := maybeGunzip(r)
	st.Gzip = gz
	if err != nil {
		return st, nil, fmt.Errorf("ingest %s: %w", name, err)
	}
	lr := lineReader{r: br}

	// Buffer the first non-blank lines to detect the format, then replay them.
	var head []headLine
	var readErr error
	if st.Format == FormatAuto {
		nonBlank := 0
		for nonBlank < detectLines && len(head) < 20*detectLines {
			line, tooLong, err := lr.next()
			if err != nil {
				readErr = err
				break
			}
			if t := bytes.TrimSpace(line); !tooLong && len(t) != 0 && (t[0] != '#' || isW3CDirective(t)) {
				nonBlank++
			}
			head = append(head, headLine{lr.n, bytes.Clone(line), tooLong})
		}
		if f := detectFormat(head); f != "" {
			st.Format = f
		} else {
			// No line to tell the format by: say so, whatever the reason
			// (junk, over-long lines, nothing but blanks and comments), so
			// that a successful result always names a real format. A read
			// error is the better explanation when there is one.
			in.undetected(head)
			if readErr != nil && readErr != io.EOF {
				return st, nil, fmt.Errorf("ingest %s: read error after line %d: %w", name, lr.n, readErr)
			}
			return st, nil, fmt.Errorf("cannot tell the log format of %s (%s); give --format (one of %s)", name, describeHead(head), strings.Join(Formats[1:], ", "))
		}
	}
	in.parse = parserFor(st.Format)

	for _, h := range head {
		in.line(h.no, h.line, h.tooLong)
	}
	if readErr == nil {
		for {
			if lr.n&4095 == 0 {
				if err := ctx.Err(); err != nil {
					return st, in.evidence(), fmt.Errorf("ingest %s: stopped at line %d: %w", name, lr.n, err)
				}
			}
			line, tooLong, err := lr.next()
			if err != nil {
				readErr = err
				break
			}
			in.line(lr.n, line, tooLong)
		}
	}
	ev := in.evidence()
	if readErr != nil && readErr != io.EOF {
		return st, ev, fmt.Errorf("ingest %s: read error after line %d: %w", name, lr.n, readErr)
	}
	return st, ev, nil
}

func validFormat(f string) bool {
	for _, v := range Formats {
		if f == v {
			return true
		}
	}
	return false
}

// undetected accounts for the head lines of an input whose format could not
// be told: blank lines and comments are skipped, over-long lines are bad
// (in any format), the rest were read but not parsed.
func (in *ingester) undetected(head []headLine) {
	for _, h := range head {
		in.st.Lines++
		switch t := bytes.TrimSpace(h.line); {
		case h.tooLong:
			in.bad(h.no, errLineTooLong, h.line)
		case len(t) == 0 || t[0] == '#':
			in.st.Skipped++
		}
	}
}

// describeHead says what the first lines of an undetectable input look like.
func describeHead(head []headLine) string {
	const show, width = 3, 40
	var parts []string
	for _, h := range head {
		t := bytes.TrimSpace(h.line)
		if !h.tooLong && (len(t) == 0 || t[0] == '#') {
			continue
		}
		if len(parts) == show {
			parts = append(parts, "...")
			break
		}
		ex := t
		if len(ex) > width {
			ex = ex[:width]
		}
		q := strconv.Quote(string(ex))
		if len(t) > width || h.tooLong {
			q = q[:len(q)-1] + `..."`
		}
		if h.tooLong {
			parts = append(parts, fmt.Sprintf("line %d: over %d bytes, %s", h.no, maxLineLen, q))
		} else {
			parts = append(parts, fmt.Sprintf("line %d: %s", h.no, q))
		}
	}
	if len(parts) == 0 {
		if len(head) == 0 {
			return "it is empty"
		}
		return fmt.Sprintf("no log lines: %d blank or comment lines", len(head))
	}
	return "first lines look like " + strings.Join(parts, "; ")
}

type headLine struct {
	no      int
	line    []byte
	tooLong bool
}

// lineReader yields lines without their line ending. Lines longer than
// maxLineLen are consumed and reported as tooLong.
type lineReader struct {
	r   *bufio.Reader
	n   int // number of the line last returned
	buf []byte
}

func (lr *lineReader) next() (line []byte, tooLong bool, err error) {
	lr.buf = lr.buf[:0]
	for {
		frag, err := lr.r.ReadSlice('\n')
		if len(lr.buf)+len(frag) <= maxLineLen {
			lr.buf = append(lr.buf, frag...)
		} else {
			tooLong = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && (err != io.EOF || (len(lr.buf) == 0 && !tooLong)) {
			return nil, false, err
		}
		lr.n++
		return bytes.TrimRight(lr.buf, "\r\n"), tooLong, nil
	}
}

// record is what a parser extracts from one line.
type record struct {
	src    netip.Addr
	target netip.Addr // zero when the log does not say
	at     time.Time
	match  matchResult
}

type matchResult struct {
	code string
	ok   bool
}

// lineParser parses one non-blank line. skip reports a comment/directive;
// a nil error with !rec.match.ok is a parsed line with no worm in it.
type lineParser func(in *ingester, line []byte) (rec record, skip bool, err error)

type ingester struct {
	name  string
	opt   IngestOptions
	st    *IngestStats
	agg   *aggregator
	loc   *time.Location
	parse lineParser
	w3c   w3cState
	uri   []byte // scratch for W3C stem?query
}

func (in *ingester) line(no int, line []byte, tooLong bool) {
	in.st.Lines++
	if tooLong {
		in.bad(no, errLineTooLong, line)
		return
	}
	if len(bytes.TrimSpace(line)) == 0 {
		in.st.Skipped++
		return
	}
	if line[0] == '#' && in.st.Format != FormatW3C {
		in.st.Skipped++ // a comment (AWStats' test logs carry some; so do IP lists)
		return
	}
	rec, skip, err := in.parse(in, line)
	switch {
	case err != nil:
		in.bad(no, err, line)
	case skip:
		in.st.Skipped++
	case rec.match.ok:
		in.st.Matched++
		in.st.ByCode[rec.match.code]++
		in.agg.add(rec.src, rec.match.code, rec.at, rec.target, 1,
			func() string { return in.name + ":" + strconv.Itoa(no) }, line)
	}
}

func (in *ingester) bad(no int, err error, line []byte) {
	in.st.Bad++
	if len(in.st.BadLines) < in.opt.MaxBadLines {
		in.st.BadLines = append(in.st.BadLines, LineError{File: in.name, Line: no, Err: err.Error(), Text: excerpt(line)})
	}
}

// evidence returns the evidence so far and counts its sources.
func (in *ingester) evidence() []store.Evidence {
	ev := in.agg.evidence()
	in.st.Sources = distinctSources(ev)
	return ev
}

var (
	errNoSource    = errors.New("source is not an IP address")
	errLineTooLong = fmt.Errorf("line longer than %d bytes", maxLineLen)
)
