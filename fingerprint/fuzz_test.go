package fingerprint

import (
	"strings"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	rules, err := Rules()
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range rules {
		f.Add([]byte(r.Example))
	}
	f.Add([]byte(iis5Response))
	f.Add([]byte("HTTP/1.1 200 OK\nServer: Microsoft-IIS/5.0\n\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\tc\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: -1\r\nServer: Microsoft-IIS/6.0Date: x\r\n<html>"))
	f.Add([]byte("\r\n\r\n\r\n"))
	f.Add([]byte("HTTP/"))
	f.Add([]byte("Server: " + strings.Repeat("\xff", 300)))
}

// maxSignals bounds Result.Signals: one per rule plus the built-in checks.
func maxSignals(t *testing.T) int {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	return 2*len(rules) + 16
}

func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := Parse(raw)
		checkBounded(t, raw, &r)
		if r.StatusCode != 0 && (r.StatusCode < 100 || r.StatusCode > 999) {
			t.Fatalf("status %d", r.StatusCode)
		}
		if p := r.Problem(); p == "" && (r.StatusCode == 0 || !r.HeaderEnd || r.Truncated) {
			t.Fatalf("no problem reported for %+v", r)
		}
	})
}

func FuzzAnalyze(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		res := Analyze(raw)
		if res.Findings == nil || res.Signals == nil {
			t.Fatal("nil findings or signals")
		}
		rules, _ := Rules()
		if len(res.Findings) > len(rules) || len(res.Signals) > maxSignals(t) {
			t.Fatalf("%d findings, %d signals", len(res.Findings), len(res.Signals))
		}
		for _, fd := range res.Findings {
			if len(fd.Snippet) > maxSnippet {
				t.Fatalf("snippet of %d bytes", len(fd.Snippet))
			}
		}
		if res.IsIIS && (res.OS == nil || !strings.Contains(res.Product, "IIS")) {
			t.Fatalf("IIS without OS or product: %+v", res)
		}
	})
}
