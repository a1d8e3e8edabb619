package passive

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"redsweep/store"
	"redsweep/triage"
)

// evSummary is the part of an Evidence the table tests compare.
type evSummary struct {
	Addr, Code string
	Count      int64
	Origin     string
}

func summarize(ev []store.Evidence) []evSummary {
	out := make([]evSummary, len(ev))
	for i, e := range ev {
		out[i] = evSummary{e.Addr.String(), e.Code, e.Count, e.Origin}
	}
	return out
}

func ingestFile(t *testing.T, path string, opt IngestOptions) (IngestStats, []store.Evidence, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Ingest(context.Background(), f, filepath.Base(path), opt)
}

func TestIngestRealApacheErrorLog(t *testing.T) {
	path := filepath.Join(corpusDir(t), "real", "ossec-apache-error-log-2001-2006-with-codered.log")
	st, ev, err := ingestFile(t, path, IngestOptions{Reporter: "ossec-sample"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Format != FormatApacheError {
		t.Errorf("format %q, want %q", st.Format, FormatApacheError)
	}
	const f = "ossec-apache-error-log-2001-2006-with-codered.log"
	want := []evSummary{
		// Lines 12-15: Code Red I's malformed Host header, Dec 2005.
		{"64.94.163.137", triage.CodeRed1Traffic, 1, f + ":15"},
		{"64.94.163.159", triage.CodeRed1Traffic, 3, f + ":12"},
		// Lines 32-34: Code Red II probes, 5 Aug 2001 (line 32 lacks its '[').
		{"66.31.68.147", triage.CodeRed2Traffic, 1, f + ":33"},
		{"66.31.101.12", triage.CodeRed2Traffic, 1, f + ":34"},
		{"66.31.142.16", triage.CodeRed2Traffic, 1, f + ":32"},
	}
	if got := summarize(ev); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("evidence\n got %v\nwant %v", got, want)
	}
	if st.Matched != 7 || st.Lines != 39 || st.Bad != 0 {
		t.Errorf("stats lines=%d matched=%d bad=%d %v, want 39/7/0", st.Lines, st.Matched, st.Bad, st.BadLines)
	}
	for _, e := range ev {
		if e.Source != triage.SourceReport || e.Reporter != "ossec-sample" {
			t.Errorf("%v: source %q reporter %q", e.Addr, e.Source, e.Reporter)
		}
	}
	// Error logs carry no zone: with none given, UTC.
	if got, want := ev[4].FirstSeen, time.Date(2001, 8, 5, 16, 23, 4, 0, time.UTC); !got.Equal(want) {
		t.Errorf("66.31.142.16 first seen %v, want %v", got, want)
	}
	if got, want := ev[1].FirstSeen, time.Date(2005, 12, 16, 2, 25, 55, 0, time.UTC); !got.Equal(want) {
		t.Errorf("64.94.163.159 first seen %v, want %v", got, want)
	}
	if got, want := ev[1].LastSeen, time.Date(2005, 12, 16, 4, 4, 36, 0, time.UTC); !got.Equal(want) {
		t.Errorf("64.94.163.159 last seen %v, want %v", got, want)
	}

	// A reporter's zone moves the times.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	_, ev, err = ingestFile(t, path, IngestOptions{Location: ny})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ev[4].FirstSeen.UTC(), time.Date(2001, 8, 5, 20, 23, 4, 0, time.UTC); !got.Equal(want) {
		t.Errorf("with America/New_York: first seen %v, want %v", got, want)
	}
}

func TestIngestRealCombinedAccessLog(t *testing.T) {
	path := filepath.Join(corpusDir(t), "real", "awstats-testglobal-access-log-with-codered2.log")
	st, ev, err := ingestFile(t, path, IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Format != FormatCombined {
		t.Errorf("format %q, want combined", st.Format)
	}
	want := []evSummary{{"80.8.55.9", triage.CodeRed2Traffic, 1, "awstats-testglobal-access-log-with-codered2.log:82"}}
	if got := summarize(ev); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("evidence\n got %v\nwant %v (the SEARCH line 83 must not count)", got, want)
	}
	if st.Matched != 1 {
		t.Errorf("matched %d lines, want 1", st.Matched)
	}
	if got, want := ev[0].FirstSeen, time.Date(2001, 1, 1, 13, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("first seen %v, want %v (15:00 +0200)", got, want)
	}
	if !strings.HasPrefix(ev[0].Sample, "80.8.55.9 - - [01/Jan/2001:15:00:00 +0200] \"GET /default.ida?XXXX") || !strings.HasSuffix(ev[0].Sample, `404 299 "-" "-"`) {
		t.Errorf("sample %q", ev[0].Sample)
	}
	for _, b := range st.BadLines {
		t.Logf("bad line (tolerated, not a worm): %v", b)
	}
}

// TestIngestFixtures checks our own fixtures against expectations written out
// here and against golden files (stats and full evidence).
func TestIngestFixtures(t *testing.T) {
	now := time.Date(2001, 8, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		file    string
		format  string // detected
		want    []evSummary
		bad     []int // line numbers of bad lines
		matched int
	}{
		{
			file: "iis-w3c.log", format: FormatW3C,
			want: []evSummary{
				{"192.0.2.10", triage.CodeRed1Traffic, 2, "iis-w3c.log:5"},
				{"192.0.2.11", triage.CodeRed2Traffic, 2, "iis-w3c.log:7"},
				{"192.0.2.12", triage.CodeRed2Traffic, 1, "iis-w3c.log:9"}, // crashed IIS: /default.ida, query "-"
				{"192.0.2.22", triage.IdaOverflow, 1, "iis-w3c.log:13"},
				{"192.0.2.30", triage.NimdaTraffic, 4, "iis-w3c.log:15"},
			},
			bad: []int{12, 19, 20}, matched: 10, // 20: query field missing
		},
		{
			file: "iplist.txt", format: FormatIPList,
			want: []evSummary{
				{"192.0.2.40", triage.CodeRed2Traffic, 1, "iplist.txt:2"},
				{"192.0.2.41", triage.NimdaTraffic, 1, "iplist.txt:3"},
				{"192.0.2.42", triage.CodeRed2Traffic, 1, "iplist.txt:6"},
				{"2001:db8::7", triage.CodeRed1Traffic, 1, "iplist.txt:4"},
			},
			bad: []int{7, 8, 9}, matched: 4,
		},
		{
			file: "access-mixed.log.gz", format: FormatCombined,
			want: []evSummary{
				{"192.0.2.50", triage.CodeRed2Traffic, 1, "access-mixed.log.gz:1"},
				{"192.0.2.51", triage.NimdaTraffic, 3, "access-mixed.log.gz:2"},
				{"192.0.2.57", triage.SadmindTraffic, 1, "access-mixed.log.gz:12"},
			},
			bad: []int{7, 8, 9, 10}, matched: 5,
		},
		{
			file: "access-garbage.log", format: FormatCombined,
			want: []evSummary{
				{"192.0.2.50", triage.CodeRed2Traffic, 1, "access-garbage.log:1"},
				{"192.0.2.51", triage.NimdaTraffic, 4, "access-garbage.log:2"},
				{"192.0.2.57", triage.SadmindTraffic, 1, "access-garbage.log:12"},
			},
			bad: []int{7, 8, 9, 10, 14}, matched: 6,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			st, ev, err := ingestFile(t, filepath.Join("testdata", tt.file), IngestOptions{Reporter: "C-1001", Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if st.Format != tt.format {
				t.Errorf("format %q, want %q", st.Format, tt.format)
			}
			if got := summarize(ev); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("evidence\n got %v\nwant %v", got, tt.want)
			}
			var badNos []int
			for _, b := range st.BadLines {
				badNos = append(badNos, b.Line)
				if b.File != tt.file || b.Err == "" {
					t.Errorf("bad line without file or reason: %+v", b)
				}
			}
			if fmt.Sprint(badNos) != fmt.Sprint(tt.bad) || st.Bad != len(tt.bad) {
				t.Errorf("bad lines %v (count %d), want %v; %v", badNos, st.Bad, tt.bad, st.BadLines)
			}
			if st.Matched != tt.matched {
				t.Errorf("matched %d, want %d", st.Matched, tt.matched)
			}
			if st.Lines != st.Matched+st.Skipped+st.Bad+unmatched(t, st) {
				t.Errorf("line accounting: %+v", st)
			}
			golden(t, "ingest-"+strings.TrimSuffix(tt.file, ".gz")+".json", struct {
				Stats    IngestStats
				Evidence []store.Evidence
			}{st, ev})
		})
	}
}

// unmatched is the number of parsed, worm-free lines (not in the stats).
func unmatched(t *testing.T, st IngestStats) int {
	return st.Lines - st.Matched - st.Skipped - st.Bad
}

func TestIngestW3CTargetsAndTimes(t *testing.T) {
	_, ev, err := ingestFile(t, filepath.Join("testdata", "iis-w3c.log"), IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr2 := ev[1]
	if cr2.Addr != netip.MustParseAddr("192.0.2.11") || cr2.DistinctTargets != 2 {
		t.Errorf("192.0.2.11: %+v, want 2 distinct targets (s-ip)", cr2)
	}
	if want := time.Date(2001, 8, 5, 0, 7, 1, 0, time.UTC); !cr2.FirstSeen.Equal(want) {
		t.Errorf("first seen %v, want %v (W3C times are UTC)", cr2.FirstSeen, want)
	}
}

func TestIngestTruncatedGzip(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("testdata", "access-mixed.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(full) - 8, len(full) / 2, 12} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			st, ev, err := Ingest(context.Background(), bytes.NewReader(full[:cut]), "cut.log.gz", IngestOptions{Format: FormatCombined})
			if err == nil {
				t.Fatalf("no error for a gzip cut at %d of %d bytes (stats %+v)", cut, len(full), st)
			}
			if !strings.Contains(err.Error(), "cut.log.gz") || !strings.Contains(err.Error(), "line") {
				t.Errorf("error %q does not name the file and line", err)
			}
			if !st.Gzip {
				t.Error("gzip not detected")
			}
			if cut == len(full)-8 && len(ev) != 3 {
				// Only the gzip trailer (CRC, size) is missing: every line was read.
				t.Errorf("kept %d evidence records, want 3", len(ev))
			}
		})
	}
}

func TestIngestEdgeCases(t *testing.T) {
	cr2 := `192.0.2.50 - - [05/Aug/2001:16:23:04 -0400] "GET /default.ida?` + strings.Repeat("X", 224) + `%u9090%u6858%ucbd3%u7801 HTTP/1.0" 404 299`
	tests := []struct {
		name     string
		input    string
		opt      IngestOptions
		wantErr  string // substring; "" = no error
		evidence int
		bad      int
	}{
		{"empty input", "", IngestOptions{}, "cannot tell the log format of in.log (it is empty)", 0, 0},
		{"only blank lines", "\n\n  \n", IngestOptions{}, "cannot tell the log format of in.log (no log lines: 3 blank or comment lines)", 0, 0},
		{"empty input, format given", "", IngestOptions{Format: FormatCombined}, "", 0, 0},
		{"only blank lines, format given", "\n\n  \n", IngestOptions{Format: FormatIPList}, "", 0, 0},
		{"undetectable", "hello\nworld\n", IngestOptions{}, "cannot tell the log format", 0, 0},
		{"unknown format", cr2, IngestOptions{Format: "syslog"}, "unknown format", 0, 0},
		{"no trailing newline", cr2, IngestOptions{}, "", 1, 0},
		{"CRLF", cr2 + "\r\n", IngestOptions{Format: FormatCommon}, "", 1, 0},
		{"over-long line is bad, not fatal", strings.Repeat("A", maxLineLen+10) + "\n" + cr2 + "\n", IngestOptions{Format: FormatCombined}, "", 1, 1},
		{"format override: access line read as error log", cr2 + "\n", IngestOptions{Format: FormatApacheError}, "", 0, 1},
		{"apache 2.4 error line with port", "[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 192.0.2.9:56767] AH00128: File does not exist: /var/www/default.ida\n", IngestOptions{}, "", 1, 0},
		{"error line without client", "[Sun Aug 05 16:23:04 2001] [error] File does not exist: /var/www/default.ida\n", IngestOptions{Format: FormatApacheError}, "", 0, 1},
		{"w3c data before fields", "2001-08-05 00:00:12 192.0.2.10 GET /default.ida -\n", IngestOptions{Format: FormatW3C}, "", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ev, err := Ingest(context.Background(), strings.NewReader(tt.input), "in.log", tt.opt)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ev) != tt.evidence || st.Bad != tt.bad {
				t.Errorf("evidence %d bad %d (%v), want %d/%d", len(ev), st.Bad, st.BadLines, tt.evidence, tt.bad)
			}
			if st.Format == FormatAuto || st.Format == "" {
				t.Errorf("successful ingest with format %q", st.Format)
			}
		})
	}
}

// TestIngestUndetectable: whatever makes the format impossible to tell —
// junk, an over-long line, nothing but comments — the answer is the same
// error naming the file, saying what the first lines look like and asking
// for --format; over-long lines are counted as bad with their numbers.
func TestIngestUndetectable(t *testing.T) {
	long := strings.Repeat("x", 10<<20) // one 10 MB line, as the tester sent
	tests := []struct {
		name    string
		input   string
		look    string // what the error says the lines look like
		lines   int
		badNos  []int
		skipped int
	}{
		{"one 10 MB line", long, `first lines look like line 1: over 65536 bytes, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."`, 1, []int{1}, 0},
		{"one 10 MB line with newline", long + "\n", `line 1: over 65536 bytes`, 1, []int{1}, 0},
		{"100-byte junk line", strings.Repeat("junk ", 20) + "\n", `first lines look like line 1: "junk junk junk junk junk junk junk junk ..."`, 1, nil, 0},
		{"short junk", "hello\nworld\n", `first lines look like line 1: "hello"; line 2: "world"`, 2, nil, 0},
		{"blank, comment, long, junk", "\n# a comment\n" + long + "\nhello\n", `first lines look like line 3: over 65536 bytes, "xxxx`, 4, []int{3}, 2},
		{"many junk lines", strings.Repeat("junk\n", 30), `line 3: "junk"; ...)`, detectLines, nil, 0},
		{"binary", "\x00\x01\xff\n", `line 1: "\x00\x01\xff"`, 1, nil, 0},
		{"only comments", "# exported list\n# nothing this week\n", "no log lines: 2 blank or comment lines", 2, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ev, err := Ingest(context.Background(), strings.NewReader(tt.input), "in.log", IngestOptions{})
			if err == nil {
				t.Fatalf("no error; stats %+v", st)
			}
			msg := err.Error()
			for _, want := range []string{"cannot tell the log format of in.log (", tt.look, "); give --format (one of common, combined, apache-error, w3c, iplist)"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if len(msg) > 400 {
				t.Errorf("error is %d bytes long", len(msg))
			}
			if len(ev) != 0 {
				t.Errorf("evidence %v", ev)
			}
			var badNos []int
			for _, b := range st.BadLines {
				badNos = append(badNos, b.Line)
				if b.File != "in.log" || !strings.Contains(b.Err, "longer than") {
					t.Errorf("bad line %+v", b)
				}
			}
			if fmt.Sprint(badNos) != fmt.Sprint(tt.badNos) || st.Bad != len(tt.badNos) || st.Lines != tt.lines || st.Skipped != tt.skipped {
				t.Errorf("lines %d skipped %d bad %d %v, want %d/%d/%v", st.Lines, st.Skipped, st.Bad, badNos, tt.lines, tt.skipped, tt.badNos)
			}
		})
	}
}

// TestIngestUndetectableReadError: a read error before the format could be
// told is reported as the read error, not as an unknown format.
func TestIngestUndetectableReadError(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("testdata", "access-mixed.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Ingest(context.Background(), bytes.NewReader(full[:12]), "cut.log.gz", IngestOptions{})
	if err == nil || !strings.Contains(err.Error(), "read error") || strings.Contains(err.Error(), "cannot tell") {
		t.Fatalf("error %v, want the read error", err)
	}
}

func TestIngestSources(t *testing.T) {
	tests := []struct {
		name              string
		input             string
		evidence, sources int
	}{
		{"one address, two worms", "192.0.2.1 nimda\n192.0.2.1 codered2\n192.0.2.1 nimda\n", 2, 1},
		{"two addresses, three records", "192.0.2.1 nimda\n192.0.2.1 codered1\n2001:db8::1 nimda\n", 3, 2},
		{"one each", "192.0.2.1\n192.0.2.2\n", 2, 2},
		{"none", "# nothing\n", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ev, err := Ingest(context.Background(), strings.NewReader(tt.input), "list.txt", IngestOptions{Format: FormatIPList})
			if err != nil {
				t.Fatal(err)
			}
			if len(ev) != tt.evidence || st.Sources != tt.sources {
				t.Errorf("%d evidence records from %d sources, want %d from %d", len(ev), st.Sources, tt.evidence, tt.sources)
			}
		})
	}
}

func TestIngestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var b strings.Builder
	for range 10000 {
		b.WriteString("192.0.2.52 - - [18/Sep/2001:22:13:00 +0000] \"GET /scripts/root.exe?/c+dir HTTP/1.1\" 200 1024\n")
	}
	_, _, err := Ingest(ctx, strings.NewReader(b.String()), "big.log", IngestOptions{})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("err %v, want context canceled", err)
	}
}

func TestIngestBadLinesCapped(t *testing.T) {
	input := "192.0.2.50 - - [05/Aug/2001:16:23:04 -0400] \"GET / HTTP/1.0\" 200 1\n" + strings.Repeat("garbage\n", 100)
	st, _, err := Ingest(context.Background(), strings.NewReader(input), "g.log", IngestOptions{MaxBadLines: 5})
	if err != nil {
		t.Fatal(err)
	}
	if st.Bad != 100 || len(st.BadLines) != 5 || st.BadLines[0].Line != 2 || st.BadLines[4].Line != 6 {
		t.Errorf("bad %d kept %d first %v", st.Bad, len(st.BadLines), st.BadLines)
	}
}

func FuzzIngestLine(f *testing.F) {
	f.Add(uint8(0), []byte(`192.0.2.50 - - [05/Aug/2001:16:23:04 -0400] "GET /default.ida?XXXX HTTP/1.0" 404 299 "-" "-"`))
	f.Add(uint8(3), []byte("Sun Aug 5 16:23:04 2001] [error] [client 66.31.142.16] File does not exist: /var/www/html/default.ida"))
	f.Add(uint8(4), []byte("#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query\n2001-08-05 00:00:12 192.0.2.10 GET /default.ida -"))
	f.Add(uint8(5), []byte("192.0.2.41 nimda # x"))
	f.Add(uint8(1), []byte{0x1f, 0x8b, 8, 0, 0, 0})
	f.Fuzz(func(t *testing.T, format uint8, data []byte) {
		opt := IngestOptions{Format: Formats[int(format)%len(Formats)], Now: time.Unix(0, 0)}
		st, ev, err := Ingest(context.Background(), bytes.NewReader(data), "fuzz", opt)
		if err == nil && (st.Format == FormatAuto || st.Format == "") {
			t.Fatalf("successful ingest with format %q", st.Format)
		}
		if st.Sources > len(ev) || (len(ev) > 0 && st.Sources == 0 && err == nil) {
			t.Fatalf("%d sources for %d evidence records", st.Sources, len(ev))
		}
		if st.Matched+st.Skipped+st.Bad > st.Lines {
			t.Fatalf("line accounting broken: %+v", st)
		}
		if len(ev) > st.Matched {
			t.Fatalf("%d evidence records from %d matched lines", len(ev), st.Matched)
		}
	})
}

// BenchmarkIngest reports lines/s and MB/s on a synthetic combined log (1 %
// worm lines), or on $REDSWEEP_BENCH_LOG when set (for make bench).
func BenchmarkIngest(b *testing.B) {
	data := benchLog(b)
	lines := bytes.Count(data, []byte("\n"))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Ingest(context.Background(), bytes.NewReader(data), "bench.log", IngestOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func benchLog(b *testing.B) []byte {
	if p := os.Getenv("REDSWEEP_BENCH_LOG"); p != "" {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		data, err := io.ReadAll(f)
		if err != nil {
			b.Fatal(err)
		}
		if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				b.Fatal(err)
			}
		}
		return data
	}
	var buf bytes.Buffer
	cr2 := "GET /default.ida?" + strings.Repeat("X", 224) + "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a HTTP/1.0"
	for i := range 100000 {
		req := fmt.Sprintf("GET /shop/item%d.html HTTP/1.1", i%977)
		if i%100 == 7 {
			req = cr2
		}
		fmt.Fprintf(&buf, "10.%d.%d.%d - - [05/Aug/2001:16:%02d:%02d -0400] \"%s\" 200 %d \"http://www.example.com/\" \"Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)\"\n",
			i>>16&255, i>>8&255, i&255, i/60%60, i%60, req, 1000+i%5000)
	}
	return buf.Bytes()
}
