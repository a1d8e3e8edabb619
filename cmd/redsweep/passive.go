package main

// Passive evidence commands: ingest (customers' logs) and sniff (captures).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"redsweep/passive"
	"redsweep/store"
)

func runIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "ingest", "FILE... [--format "+strings.Join(passive.Formats, "|")+"] [--reporter NAME]")
	format := fs.String("format", "auto", "log format: "+strings.Join(passive.Formats, ", "))
	reporter := fs.String("reporter", "", "who sent the log (a customer id or name), recorded with the evidence")
	tz := fs.String("tz", "UTC", "time zone of log times that carry none (Apache error logs), e.g. America/New_York")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("give one or more log files")
	}
	if *format != "auto" {
		if err := oneOf("format", *format, passive.Formats...); err != nil {
			return err
		}
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return usagef("--tz %q: %v", *tz, err)
	}
	db, err := store.Open(e.database())
	if err != nil {
		return err
	}
	defer db.Close()
	failed := 0
	for _, name := range pos {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(e.stderr, "redsweep ingest: %v\n", err)
			failed++
			continue
		}
		opt := passive.IngestOptions{Reporter: *reporter, Location: loc}
		if *format != "auto" {
			opt.Format = *format
		}
		st, ev, readErr := passive.Ingest(ctx, f, name, opt)
		f.Close()
		// Evidence read before a read error is still evidence: keep it.
		if err := db.AddEvidence(ctx, ev); err != nil {
			return fmt.Errorf("%s: saving evidence: %w", name, err)
		}
		if readErr != nil && st.Matched == 0 {
			fmt.Fprintf(e.stderr, "redsweep ingest: %v\n", readErr)
			failed++
			continue
		}
		fmt.Fprintf(e.stdout, "%s: %s%s, %d lines, %d worm lines from %d sources%s; %d unparseable\n",
			name, st.Format, gz(st.Gzip), st.Lines, st.Matched, st.Sources, codeCounts(st.ByCode), st.Bad)
		for _, b := range st.BadLines {
			fmt.Fprintf(e.stderr, "  skipped %s\n", b.Error())
		}
		if st.Bad > len(st.BadLines) {
			fmt.Fprintf(e.stderr, "  ... and %d more unparseable lines\n", st.Bad-len(st.BadLines))
		}
		if readErr != nil {
			fmt.Fprintf(e.stderr, "redsweep ingest: %v (kept what was read before it)\n", readErr)
			failed++
		}
	}
	if failed > 0 {
		return errSilent{exitError}
	}
	return nil
}

func runSniff(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sniff", "--pcap FILE... | --iface NAME [--duration D]")
	var pcaps multiFlag
	fs.Var(&pcaps, "pcap", "pcap or pcapng `FILE` (plain or gzip); repeatable, or list files after the flags")
	iface := fs.String("iface", "", "capture live on interface `NAME` (needs root or CAP_NET_RAW)")
	dur := fs.Duration("duration", time.Minute, "how long to capture live (0 = until Ctrl-C)")
	threshold := fs.Int("fanout-threshold", 20, "distinct port-80 destinations within --fanout-window that mark a source as a worm")
	window := fs.Duration("fanout-window", 10*time.Second, "window for --fanout-threshold")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	pcaps = append(pcaps, pos...)
	if (len(pcaps) == 0) == (*iface == "") {
		return usagef("give --pcap FILE... or --iface NAME (one of the two)")
	}
	opt := passive.CaptureOptions{FanoutThreshold: *threshold, FanoutWindow: *window}
	db, err := store.Open(e.database())
	if err != nil {
		return err
	}
	defer db.Close()
	report := func(st passive.CaptureStats, ev []store.Evidence) {
		fmt.Fprintf(e.stdout, "%s: %s%s, %d packets (%d TCP), %d HTTP requests; evidence on %d sources%s\n",
			st.File, st.Format, gz(st.Gzip), st.Packets, st.TCPPackets, st.Requests, st.Sources, codeCounts64(st.ByCode))
		for _, p := range st.PacketErrors {
			fmt.Fprintf(e.stderr, "  skipped %s packet %d: %s\n", st.File, p.Packet, p.Err)
		}
		if more := st.DecodeErrors - int64(len(st.PacketErrors)); more > 0 {
			fmt.Fprintf(e.stderr, "  ... and %d more undecodable packets\n", more)
		}
	}
	if *iface != "" {
		st, ev, err := passive.Live(ctx, *iface, *dur, opt)
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		if err := db.AddEvidence(context.WithoutCancel(ctx), ev); err != nil {
			return err
		}
		report(st, ev)
		return nil
	}
	failed := 0
	for _, name := range pcaps {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(e.stderr, "redsweep sniff: %v\n", err)
			failed++
			continue
		}
		st, ev, readErr := passive.ReadCapture(ctx, f, name, opt)
		f.Close()
		if err := db.AddEvidence(ctx, ev); err != nil {
			return fmt.Errorf("%s: saving evidence: %w", name, err)
		}
		report(st, ev)
		if readErr != nil {
			fmt.Fprintf(e.stderr, "redsweep sniff: %v (kept the evidence before it)\n", readErr)
			failed++
		}
	}
	if failed > 0 {
		return errSilent{exitError}
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func gz(b bool) string {
	if b {
		return "+gzip"
	}
	return ""
}

func codeCounts(m map[string]int) string {
	m64 := make(map[string]int64, len(m))
	for k, v := range m {
		m64[k] = int64(v)
	}
	return codeCounts64(m64)
}

func codeCounts64(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
