package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Formats accepted by Write, in the order help text lists them.
var Formats = []string{"table", "csv", "json", "html"}

// DiffFormats accepted by WriteDiff.
var DiffFormats = []string{"table", "csv", "json"}

// Write renders cl in format: table, csv, json or html.
func Write(w io.Writer, format string, cl CallList) error {
	switch format {
	case "table":
		return writeTable(w, cl)
	case "csv":
		return writeCSV(w, cl)
	case "json":
		return writeJSON(w, cl)
	case "html":
		return writeHTML(w, cl)
	}
	return unknownFormat(format, Formats)
}

func unknownFormat(format string, valid []string) error {
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(valid, ", "))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // evidence snippets are HTML; \u003c helps nobody reading with jq
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// timeCell formats a time for machine-read output; zero stays empty rather
// than "0001-01-01".
func timeCell(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// spreadsheetSafe defuses cells a spreadsheet would run as a formula. Only
// free text typed by customers or agents goes through it: names and notes
// are untrusted, while IPs, codes and phones ("+44 ...") are ours.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

var callCSVHeader = []string{
	"subnet_rank", "subnet", "subnet_customers", "subnet_infected", "subnet_vulnerable",
	"customer_id", "name", "phone", "ip", "verdict", "findings", "last_seen", "seen_by_sweep",
	"last_outcome", "last_outcome_at", "last_note",
}

// writeCSV writes one row per entry with its subnet's columns repeated, so a
// spreadsheet can sort or filter without losing the grouping.
func writeCSV(w io.Writer, cl CallList) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(callCSVHeader); err != nil {
		return err
	}
	for i, g := range cl.Subnets {
		for _, e := range g.Entries {
			codes := make([]string, len(e.Findings))
			for j, f := range e.Findings {
				codes[j] = f.Code
			}
			sweep := ""
			if e.SweepID > 0 {
				sweep = strconv.FormatInt(e.SweepID, 10)
			}
			rec := []string{
				strconv.Itoa(i + 1), g.Subnet, strconv.Itoa(g.Customers), strconv.Itoa(g.Infected), strconv.Itoa(g.Vulnerable),
				e.CustomerID, spreadsheetSafe(e.Name), e.Phone, e.IP, e.Verdict, strings.Join(codes, ";"),
				timeCell(e.LastSeen), sweep, e.LastOutcome, timeCell(e.LastOutcomeAt), spreadsheetSafe(e.LastNote),
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// newTable is the one table style of every terminal output: ASCII borders
// (cron mail and old terminals), headers as written, no wrapping of its own:
// cells arrive wrapped by wrap, whose widths keep a table within 120 columns
// (tablewriter's MaxWidth shrinks every column, even short ones).
func newTable(w io.Writer, header []string) *tablewriter.Table {
	return tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeader(header),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
}

// Column widths of the call-list table: 10+15+20+16+18+20 plus borders is
// 118 columns for IPv4 (IPv6 addresses widen it).
const (
	wName  = 20
	wPhone = 16
	wNote  = 20
)

// writeTable prints one table per subnet, each under a line with its rank
// and impact: an agent works one subnet at a time, and the heading says why
// this subnet comes before the next.
func writeTable(w io.Writer, cl CallList) error {
	var infected, vulnerable int
	for _, g := range cl.Subnets {
		infected += g.Infected
		vulnerable += g.Vulnerable
	}
	if _, err := fmt.Fprintf(w, "Call list from sweep #%d, %s: %s, %s in %s.\n",
		cl.SweepID, stamp(cl.GeneratedAt),
		plural(infected, "infected host", "infected hosts"), plural(vulnerable, "vulnerable host", "vulnerable hosts"),
		plural(len(cl.Subnets), "subnet", "subnets")); err != nil {
		return err
	}
	if len(cl.Subnets) == 0 {
		_, err := fmt.Fprintln(w, "Nobody to call.")
		return err
	}
	for i, g := range cl.Subnets {
		if _, err := fmt.Fprintf(w, "\n%d. %s: %d infected, %d vulnerable; %s share it\n", i+1, g.Subnet,
			g.Infected, g.Vulnerable, plural(g.Customers, "customer", "customers")); err != nil {
			return err
		}
		t := newTable(w, []string{"VERDICT", "IP", "CUSTOMER", "PHONE", "FINDINGS", "LAST CALL"})
		for _, e := range g.Entries {
			codes := make([]string, len(e.Findings))
			for j, f := range e.Findings {
				codes[j] = f.Code
			}
			last := outcomeWords(e.LastOutcome)
			if e.PatchedButInfected {
				last = "!! MARKED PATCHED,\nSTILL INFECTED"
			}
			if e.LastOutcome != "" {
				last += "\n" + age(e.LastOutcomeAt, cl.GeneratedAt)
			}
			if e.LastNote != "" {
				last += "\n" + wrap(printable(e.LastNote), wNote)
			}
			if err := t.Append([]string{
				strings.ToUpper(e.Verdict) + "\n" + age(e.LastSeen, cl.GeneratedAt),
				e.IP,
				wrap(printable(e.Name), wName) + "\n" + wrap(printable(e.CustomerID), wName),
				wrap(printable(e.Phone), wPhone),
				strings.Join(codes, "\n"),
				last,
			}); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// wrap breaks s into lines of at most width runes, at spaces where it can
// and inside a word only when the word alone is longer than a line.
func wrap(s string, width int) string {
	var lines []string
	line := []rune{}
	for _, word := range strings.Fields(s) {
		wr := []rune(word)
		for len(wr) > width { // a word longer than a line: hard break
			if len(line) > 0 {
				lines = append(lines, string(line))
				line = line[:0]
			}
			lines = append(lines, string(wr[:width]))
			wr = wr[width:]
		}
		switch {
		case len(line) == 0:
			line = append(line, wr...)
		case len(line)+1+len(wr) <= width:
			line = append(append(line, ' '), wr...)
		default:
			lines = append(lines, string(line))
			line = append(line[:0:0], wr...)
		}
	}
	if len(line) > 0 {
		lines = append(lines, string(line))
	}
	return strings.Join(lines, "\n")
}

// printable keeps untrusted text (names, notes) from driving the terminal:
// line breaks and tabs become spaces, other control characters (escape
// sequences included) become U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return unicode.ReplacementChar
		}
		return r
	}, s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
