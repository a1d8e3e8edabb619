package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// waitFor polls; it fails only after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not reached in 10s", what)
}

type truthLine struct {
	IP          string `json:"ip"`
	Personality string `json:"personality"`
	Verdict     string `json:"verdict"`
	Cured       bool   `json:"cured"`
}

func readTruth(t *testing.T, path string) []truthLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []truthLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r truthLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("truth line %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

// TestRun drives the CLI end to end: ready file, files, a request landing
// in requests.log, a cure through cure.txt and SIGHUP, clean exit.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	prefix := fmt.Sprintf("127.%d.%d.0/24", 64+rand.IntN(64), rand.IntN(256))
	port := fmt.Sprint(20000 + rand.IntN(20000))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	var stdout, stderr syncBuf
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-out", dir, "-ready-file", ready, "-prefix", prefix, "-port", port,
			"-hosts", "30", "-subnet-bits", "26", "-seed", "5"}, &stdout, &stderr, hup)
	}()
	waitFor(t, "ready file", func() bool {
		select {
		case c := <-code:
			t.Fatalf("run exited %d: %s", c, stderr.String())
		default:
		}
		_, err := os.Stat(ready)
		return err == nil
	})
	if !strings.HasPrefix(stdout.String(), "simnet: serving 30 hosts on "+prefix+" port "+port+"; roster ") {
		t.Errorf("ready line %q", stdout.String())
	}

	f, err := os.Open(filepath.Join(dir, "roster.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || strings.Join(rows[0], ",") != "ip,customer_id,name,phone,subnet,plan" || len(rows) < 60 {
		t.Fatalf("roster: %d rows, header %v, %v", len(rows), rows[0], err)
	}

	truth := readTruth(t, filepath.Join(dir, "truth.jsonl"))
	var victim, clean string
	for _, r := range truth {
		switch {
		case victim == "" && r.Verdict == "infected":
			victim = r.IP
		case clean == "" && r.Personality == "iis6":
			clean = r.IP
		}
	}
	if victim == "" {
		t.Fatal("no infected host in the network")
	}

	c, err := net.Dial("tcp4", net.JoinHostPort(victim, port))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /NULL.ida HTTP/1.0\r\n\r\n")
	io.ReadAll(c)
	c.Close()
	logb, _ := os.ReadFile(filepath.Join(dir, "requests.log"))
	if !strings.Contains(string(logb), `"ip":"`+victim+`"`) || !strings.Contains(string(logb), `"target":"/NULL.ida"`) {
		t.Errorf("requests.log lacks the request: %s", logb)
	}

	cure := victim + "\n# a comment\n" + clean + "\nnot-an-ip\n"
	if err := os.WriteFile(filepath.Join(dir, "cure.txt"), []byte(cure), 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	waitFor(t, "cure", func() bool { return strings.Contains(stdout.String(), "simnet: cured 1 hosts") })
	for _, want := range []string{"line 3", "not infected or vulnerable", "line 4", "not an IP address"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q lacks %q", stderr.String(), want)
		}
	}
	for _, r := range readTruth(t, filepath.Join(dir, "truth.jsonl")) {
		if r.IP == victim && (!r.Cured || r.Verdict != "iis") {
			t.Errorf("truth after cure: %+v", r)
		}
	}

	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("exit %d: %s", c, stderr.String())
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Errorf("ready file left behind: %v", err)
	}
	if _, err := net.Dial("tcp4", net.JoinHostPort(victim, port)); err == nil {
		t.Error("still listening after exit")
	}
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "-out DIR is required"},
		{[]string{"-out", t.TempDir(), "-bogus"}, 2, "flag provided but not defined"},
		{[]string{"-out", t.TempDir(), "extra"}, 2, "unexpected argument"},
		{[]string{"-out", t.TempDir(), "-prefix", "nonsense"}, 2, "-prefix"},
		{[]string{"-out", t.TempDir(), "-hosts", "0"}, 2, "-hosts"},
		{[]string{"-out", t.TempDir(), "-port", "70000"}, 2, "-port"},
		{[]string{"-out", t.TempDir(), "-prefix", "10.0.0.0/24"}, 1, "only loopback"},
		{[]string{"-out", t.TempDir(), "-prefix", "192.0.2.0/24"}, 1, "only loopback"},
		{[]string{"-h"}, 0, "cure.txt"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			got := run(context.Background(), tc.args, &out, &errb, nil)
			if got != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", got, errb.String(), tc.code, tc.want)
			}
		})
	}
}
