package main

// The support desk's commands: customers, calls, mark, history, diff, export, sweeps.

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"redsweep/report"
	"redsweep/roster"
	"redsweep/store"
)

func runCustomers(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(e.stdout, "usage: redsweep customers import FILE.csv [--group-prefix 24] [--group-prefix6 64]")
			return nil
		}
		return usagef("usage: redsweep customers import FILE.csv [--group-prefix 24]")
	}
	fs := newFlags(e, "customers import", "FILE.csv")
	g4 := fs.Int("group-prefix", 24, "IPv4 subnet length for customers whose row has no subnet")
	g6 := fs.Int("group-prefix6", 64, "IPv6 subnet length for customers whose row has no subnet")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("customers import takes one CSV file, got %d arguments", len(pos))
	}
	if *g4 < 8 || *g4 > 32 || *g6 < 16 || *g6 > 128 {
		return usagef("--group-prefix must be 8..32 and --group-prefix6 16..128")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	cs, err := roster.Read(f, pos[0], roster.Options{GroupPrefix4: *g4, GroupPrefix6: *g6})
	if err != nil {
		return fmt.Errorf("%w (nothing was imported)", err)
	}
	db, err := store.Open(e.database())
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.ImportCustomers(ctx, cs, pos[0])
	if err != nil {
		return fmt.Errorf("import %s: %w (nothing was imported)", pos[0], err)
	}
	fmt.Fprintf(e.stdout, "imported %s: %d rows; customers %d added, %d updated, %d unchanged; %d addresses reassigned\n",
		pos[0], len(cs), st.Added, st.Updated, st.Unchanged, st.Reassigned)
	return nil
}

func runCalls(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "calls", "[--format table|csv|json|html]")
	format := fs.String("format", "table", "output: "+strings.Join(report.Formats, ", "))
	maxAge := fs.Duration("evidence-max-age", store.DefaultEvidenceMaxAge, "passive evidence (captures, customer reports) older than this no longer puts a customer on the list")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := oneOf("format", *format, report.Formats...); err != nil {
		return err
	}
	db, err := openExisting(e)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	rows, err := db.CallRowsWith(ctx, now, store.CallOptions{EvidenceMaxAge: *maxAge})
	if err != nil {
		return err
	}
	var sweepID int64
	if s, err := db.LatestSweep(ctx); err == nil {
		sweepID = s.ID
	} else if !errors.Is(err, store.ErrNoSweep) {
		return err
	}
	return report.Write(e.stdout, *format, report.BuildCallList(rows, sweepID, now))
}

func runMark(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "mark", "IP|CUSTOMER --outcome OUTCOME [--note TEXT]  |  mark --from FILE.csv")
	outcome := fs.String("outcome", "", "one of "+strings.Join(store.Outcomes, ", "))
	note := fs.String("note", "", "free text, e.g. what the customer said")
	by := fs.String("by", os.Getenv("USER"), "who made the call")
	from := fs.String("from", "", "record a batch from `FILE.csv` (columns target,outcome[,note][,at][,by])")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	var rows []store.MarkRow
	switch {
	case *from != "":
		if len(pos) > 0 || *outcome != "" {
			return usagef("--from takes everything from the file; drop the other arguments")
		}
		if rows, err = readMarks(*from, *by); err != nil {
			return err
		}
	case len(pos) == 1:
		if err := oneOf("outcome", *outcome, store.Outcomes...); err != nil {
			return err
		}
		rows = []store.MarkRow{{Target: pos[0], Outcome: *outcome, Note: *note, At: time.Now(), By: *by}}
	default:
		return usagef("give one IP or customer id and --outcome, or --from FILE.csv")
	}
	db, err := openExisting(e)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.MarkBatch(ctx, rows)
	if err != nil {
		if *from != "" {
			return fmt.Errorf("%s: %w (nothing was recorded)", *from, err)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "recorded %d call outcome(s) for %d address(es)\n", len(rows), n)
	return nil
}

// readMarks reads a batch of call outcomes typed in after a shift.
func readMarks(path, by string) ([]store.MarkRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"target", "outcome"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s line 1: missing column %q (want target,outcome[,note][,at][,by])", path, need)
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var rows []store.MarkRow
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (nothing was recorded)", path, err)
		}
		if len(rec) > len(header) {
			return nil, fmt.Errorf("%s line %d: %d fields, the header has %d (nothing was recorded)", path, line, len(rec), len(header))
		}
		m := store.MarkRow{Target: get(rec, "target"), Outcome: get(rec, "outcome"), Note: get(rec, "note"), By: get(rec, "by"), Line: line, At: time.Now()}
		if m.By == "" {
			m.By = by
		}
		if at := get(rec, "at"); at != "" {
			t, err := parseWhen(at)
			if err != nil {
				return nil, fmt.Errorf("%s line %d, field \"at\": %v (nothing was recorded)", path, line, err)
			}
			// A call cannot have happened tomorrow; a typo here would sort
			// the call after every real one in history and the call list.
			if t.After(time.Now().Add(time.Hour)) {
				return nil, fmt.Errorf("%s line %d, field \"at\": %s is in the future (nothing was recorded)", path, line, at)
			}
			m.At = t
		}
		if m.Target == "" {
			return nil, fmt.Errorf("%s line %d, field \"target\": empty; give an IP address or customer id (nothing was recorded)", path, line)
		}
		if err := oneOf("outcome", m.Outcome, store.Outcomes...); err != nil {
			return nil, fmt.Errorf("%s line %d, field \"outcome\": %q is not one of %s (nothing was recorded)", path, line, m.Outcome, strings.Join(store.Outcomes, ", "))
		}
		rows = append(rows, m)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows after the header", path)
	}
	return rows, nil
}

// parseWhen accepts RFC 3339 or the "2006-01-02 15:04" a person types, in local time.
func parseWhen(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (use 2006-01-02 15:04 or RFC 3339)", s)
}

func runHistory(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "history", "IP|CUSTOMER")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give one IP address or customer id")
	}
	db, err := openExisting(e)
	if err != nil {
		return err
	}
	defer db.Close()
	evs, err := db.History(ctx, pos[0])
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		fmt.Fprintf(e.stdout, "nothing recorded about %s\n", pos[0])
		return nil
	}
	return report.WriteHistory(e.stdout, evs)
}

func runDiff(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "diff", "[--from SWEEP] [--to SWEEP] [--format table|csv|json]")
	fromID := fs.Int64("from", 0, "earlier sweep id (default: the finished sweep before --to)")
	toID := fs.Int64("to", 0, "later sweep id (default: the latest sweep)")
	format := fs.String("format", "table", "output: "+strings.Join(report.DiffFormats, ", "))
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := oneOf("format", *format, report.DiffFormats...); err != nil {
		return err
	}
	db, err := openExisting(e)
	if err != nil {
		return err
	}
	defer db.Close()
	to := *toID
	if to == 0 {
		s, err := db.LatestSweep(ctx)
		if err != nil {
			return fmt.Errorf("no sweep to compare: %w", err)
		}
		to = s.ID
	}
	from := *fromID
	if from == 0 {
		if from = previousSweep(ctx, db, to); from == 0 {
			return fmt.Errorf("sweep %d has no earlier finished sweep to compare with", to)
		}
	}
	rows, err := db.Diff(ctx, from, to)
	if err != nil {
		return err
	}
	in := make([]report.DiffRow, 0, len(rows))
	for _, r := range rows {
		in = append(in, report.DiffRow{
			CustomerID: r.CustomerID, Name: r.Name, Phone: r.Phone, IP: r.IP, Subnet: r.Subnet,
			SubnetCustomers: r.SubnetCustomers, From: r.From, To: r.To, ToStatus: r.ToStatus,
			ToSeen: r.Seen, Findings: r.Findings, LastOutcome: r.LastOutcome, LastOutcomeAt: r.LastOutcomeAt,
		})
	}
	return report.WriteDiff(e.stdout, *format, report.BuildDiff(in, from, to, time.Now()))
}

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "export", "--format ndjson|csv [--sweep ID|latest]")
	format := fs.String("format", "ndjson", "output: "+strings.Join(report.ExportFormats, ", "))
	sweep := fs.String("sweep", "latest", "sweep id, or latest")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := oneOf("format", *format, report.ExportFormats...); err != nil {
		return err
	}
	db, err := openExisting(e)
	if err != nil {
		return err
	}
	defer db.Close()
	id, err := resolveSweep(ctx, db, *sweep)
	if err != nil {
		return err
	}
	ex, err := report.NewExporter(e.stdout, *format)
	if err != nil {
		return err
	}
	if err := db.Observations(ctx, id, ex.Write); err != nil {
		return err
	}
	return ex.Close()
}

func runSweeps(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sweeps", "")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := openExisting(e)
	if err != nil {
		return err
	}
	defer db.Close()
	ss, err := db.ListSweeps(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED\tENDED\tSTATE\tTARGETS\tPROBED")
	for _, s := range ss {
		ended := "-"
		if !s.Ended.IsZero() {
			ended = s.Ended.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\n", s.ID, s.Started.Local().Format("2006-01-02 15:04:05"), ended, s.State, s.Targets, s.Probed)
	}
	return tw.Flush()
}

func resolveSweep(ctx context.Context, db *store.DB, s string) (int64, error) {
	if s == "" || s == "latest" {
		sw, err := db.LatestSweep(ctx)
		if err != nil {
			return 0, fmt.Errorf("no sweep yet: %w", err)
		}
		return sw.ID, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("--sweep %q: want a sweep id or \"latest\"", s)
	}
	if _, err := db.Sweep(ctx, id); err != nil {
		return 0, err
	}
	return id, nil
}

// openExisting opens the database for reading commands, refusing to create
// an empty one by accident (a mistyped --db would otherwise "work").
func openExisting(e *env) (*store.DB, error) {
	p := e.database()
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("database %s does not exist (import customers first, or give --db / REDSWEEP_DB)", p)
		}
		return nil, err
	}
	return store.Open(p)
}
