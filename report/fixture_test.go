package report

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"redsweep/store"
	"redsweep/triage"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// now is the fixed clock of every golden file: the evening Code Red II
// began spreading.
var now = time.Date(2001, 8, 4, 18, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func finding(code, source string, seenAgo time.Duration, detail, evidence string) triage.Finding {
	return triage.Finding{Code: code, Detail: detail, Evidence: evidence, Source: source, Seen: ago(seenAgo)}
}

func row(id, name, phone, ip, subnet string, customers int, v triage.Verdict, fs ...triage.Finding) store.CallRow {
	return store.CallRow{
		CustomerID: id, Name: name, Phone: phone,
		IP: netip.MustParseAddr(ip), Subnet: netip.MustParsePrefix(subnet), SubnetCustomers: customers,
		Verdict: v, Findings: fs, SweepID: 12, LastSeen: ago(3 * time.Hour),
	}
}

func called(r store.CallRow, outcome string, at time.Duration, note string) store.CallRow {
	r.LastOutcome, r.LastOutcomeAt, r.LastNote = outcome, ago(at), note
	// An earlier unanswered call, so the sheet shows a history, not one line.
	r.Calls = []store.CallOutcome{
		{Outcome: "no-answer", At: ago(at + 90*time.Minute), By: "desk-2"},
		{Outcome: outcome, At: ago(at), Note: note, By: "desk-1"},
	}
	return r
}

// fixtureRows covers six subnets whose order exercises every tie-break,
// every finding code, rows given out of order, and one row (an IIS host)
// that must not reach the call list. Expected subnet order:
//
//	10.0.1.0/24    2 infected, 1 vulnerable, 120 customers
//	10.0.3.0/24    2 infected, 0 vulnerable, 250 customers (fewer vulnerable)
//	10.0.2.0/24    1 infected, 1 vulnerable, 200 customers
//	10.0.4.0/24    1 infected, 1 vulnerable, 200 customers (tie: address)
//	10.0.5.0/24    1 infected, 1 vulnerable,  90 customers (fewer customers)
//	192.168.9.0/25 0 infected, 2 vulnerable,  60 customers
func fixtureRows() []store.CallRow {
	const sw, cap_, rep = triage.SourceSweep, triage.SourceCapture, triage.SourceReport
	return []store.CallRow{
		row("C0412", "Gloria Ashby", "555-0142", "192.168.9.77", "192.168.9.0/25", 60, triage.Vulnerable,
			finding(triage.MS01033Unpatched, sw, 3*time.Hour, "the 220-x .ida probe crashed the Index Server ISAPI", "0xc0000005"),
			finding(triage.IdaMapped, sw, 3*time.Hour, "/NULL.ida answered by the Index Server ISAPI", "HTTP/1.1 200 OK")),
		// Marked patched 4 h ago, yet the sweep 3 h ago still found the backdoor.
		called(row("C0101", "Ann Example", "555-0101", "10.0.1.10", "10.0.1.0/24", 120, triage.Infected,
			finding(triage.CodeRed2Backdoor, sw, 3*time.Hour, "/scripts/root.exe ran cmd.exe", "Microsoft Windows 2000 [Version 5.00.2195]"),
			finding(triage.CodeRed2Traffic, cap_, 5*time.Hour, "sent Code Red II requests to 311 hosts", "GET /default.ida?XXXXXXXX"),
			finding(triage.IdaMapped, sw, 3*time.Hour, "/NULL.ida answered by the Index Server ISAPI", "")),
			"patched", 4*time.Hour, "customer says all fixed"),
		row("C0102", "O'Brien & Sons <Printing>", "555-0102", "10.0.1.9", "10.0.1.0/24", 120, triage.Infected,
			finding(triage.CodeRed1Defaced, sw, 3*time.Hour, "/ serves the Code Red I defacement", "<title>HELLO!</title>"),
			finding(triage.IISCodeRedEra, sw, 3*time.Hour, "IIS 5.0", "Server: Microsoft-IIS/5.0")),
		called(row("C0103", "Bob Vance", "555-0103", "10.0.1.2", "10.0.1.0/24", 120, triage.Vulnerable,
			finding(triage.IdaMapped, sw, 3*time.Hour, "/NULL.ida answered by the Index Server ISAPI", "")),
			"no-answer", 26*time.Hour, "left a message"),
		row("C0301", "Carla Diaz", "555-0301", "10.0.3.20", "10.0.3.0/24", 250, triage.Infected,
			finding(triage.NimdaContent, sw, 3*time.Hour, "/ carries Nimda's readme.eml script", `window.open("readme.eml", null`),
			finding(triage.NimdaReadmeEML, sw, 3*time.Hour, "/readme.eml serves Nimda's payload", ""),
			finding(triage.CatchAll, sw, 3*time.Hour, "answers 200 to random paths", "")),
		called(row("C0302", "Dan Ek", "555-0302", "10.0.3.4", "10.0.3.0/24", 250, triage.Infected,
			finding(triage.NimdaTraffic, rep, 30*time.Hour, "sent Nimda's cmd.exe traversal probes", "GET /scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir"),
			finding(triage.WormFanout, cap_, 4*time.Hour, "port-80 connections to 2,000 hosts in 60 s", "")),
			"patched", 2*time.Hour, "says he installed MS01-033"),
		row("C0201", "Eve Fong", "555-0201", "10.0.2.8", "10.0.2.0/24", 200, triage.Infected,
			finding(triage.SadmindTraffic, cap_, 90*time.Minute, "sent sadmind/IIS requests", "GET x HTTP/1.0")),
		row("C0202", "Frank Gill", "555-0202", "10.0.2.9", "10.0.2.0/24", 200, triage.Vulnerable,
			finding(triage.IdaMapped, sw, 3*time.Hour, "/NULL.ida answered by the Index Server ISAPI", "")),
		row("C0203", "Gail Hart", "555-0203", "10.0.2.10", "10.0.2.0/24", 200, triage.IIS,
			finding(triage.IISCodeRedEra, sw, 3*time.Hour, "IIS 5.0", "Server: Microsoft-IIS/5.0")),
		row("C0401", "Hal Ito", "555-0401", "10.0.4.1", "10.0.4.0/24", 200, triage.Infected,
			finding(triage.InfectedReply, cap_, 45*time.Second, "served cmd.exe output on the wire", "Directory of c:\\inetpub\\scripts")),
		row("C0402", "Ida Jons", "555-0402", "10.0.4.2", "10.0.4.0/24", 200, triage.Vulnerable,
			finding(triage.MS01033Unpatched, sw, 3*time.Hour, "the 220-x .ida probe crashed the Index Server ISAPI", "0xc0000005")),
		row("C0501", "Jo Kay", "555-0501", "10.0.5.3", "10.0.5.0/24", 90, triage.Infected,
			finding(triage.CodeRed1Traffic, cap_, 3*24*time.Hour, "sent Code Red I requests", "GET /default.ida?NNNNNNNN"),
			finding(triage.IdaOverflow, rep, 20*time.Minute, "an .ida overflow attempt", "GET /x.ida?AAAA")),
		row("C0502", "Kim Lo", "555-0502", "10.0.5.4", "10.0.5.0/24", 90, triage.Vulnerable,
			finding(triage.IdaMapped, sw, 3*time.Hour, "/NULL.ida answered by the Index Server ISAPI", "")),
		row("C0413", "Lee Moss", "555-0143", "192.168.9.5", "192.168.9.0/25", 60, triage.Vulnerable,
			finding(triage.IdaMapped, sw, 3*time.Hour, "/NULL.ida answered by the Index Server ISAPI", "")),
	}
}

func fixtureCallList() CallList { return BuildCallList(fixtureRows(), 12, now) }

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./report -update rewrites it after review)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}
