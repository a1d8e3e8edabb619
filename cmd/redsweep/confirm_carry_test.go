package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"redsweep/internal/simnet"
)

// TestRescanWithoutConfirmKeepsConfirmedFindings: the README's cron line
// rescans flagged hosts without --confirm. It cannot see the Code Red II
// backdoor or the MS01-033 patch, so it must neither report backdoored
// hosts as cleaned nor patched ones as newly vulnerable.
func TestRescanWithoutConfirmKeepsConfirmedFindings(t *testing.T) {
	n, rosterPath := startNet(t, simnet.Config{
		Prefix: netip.MustParsePrefix("127.99.0.0/22"), Port: 18099, Seed: 13, Hosts: 150,
		SlowDelay: 100 * time.Millisecond,
	})
	db := filepath.Join(t.TempDir(), "rs.db")
	ctx := context.Background()
	run := func(args ...string) (int, string) {
		t.Helper()
		code, out, errs := cli(t, ctx, append([]string{"--db", db}, args...)...)
		if code != 0 && code != exitNewInfections {
			t.Fatalf("%v: exit %d: %s%s", args, code, out, errs)
		}
		return code, out
	}
	run("customers", "import", rosterPath)
	sweep := []string{"sweep", "--ports", "18099", "--timeout", "3s", "--host-timeout", "8s", "--rate", "0", "--quiet"}
	run(append(sweep, "--confirm")...)
	run(append(sweep, "--only", "flagged")...)

	var cr2, patched []string
	for _, h := range n.Hosts() {
		switch h.Personality {
		case simnet.CodeRed2:
			cr2 = append(cr2, h.Addr.String())
		case simnet.IIS5IdaPatched:
			patched = append(patched, h.Addr.String())
		}
	}
	if len(cr2) == 0 || len(patched) == 0 {
		t.Fatalf("simnet made %d Code Red II and %d patched hosts; the test needs both", len(cr2), len(patched))
	}

	_, out := run("diff", "--format", "json")
	var d struct {
		Subnets []struct {
			Entries []struct {
				Category string `json:"category"`
				IP       string `json:"ip"`
			} `json:"entries"`
		} `json:"subnets"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	still := map[string]bool{}
	for _, s := range d.Subnets {
		for _, e := range s.Entries {
			if e.Category == "still-infected" {
				still[e.IP] = true
				continue
			}
			t.Errorf("nothing changed on the network, yet diff lists %s as %s", e.IP, e.Category)
		}
	}
	for _, ip := range cr2 {
		if !still[ip] {
			t.Errorf("Code Red II host %s is not listed as still infected", ip)
		}
	}

	_, out = run("calls", "--format", "json")
	var cl struct {
		Subnets []struct {
			Entries []struct {
				IP      string `json:"ip"`
				Verdict string `json:"verdict"`
			} `json:"entries"`
		} `json:"subnets"`
	}
	if err := json.Unmarshal([]byte(out), &cl); err != nil {
		t.Fatal(err)
	}
	verdict := map[string]string{}
	for _, s := range cl.Subnets {
		for _, e := range s.Entries {
			verdict[e.IP] = e.Verdict
		}
	}
	for _, ip := range cr2 {
		if verdict[ip] != "infected" {
			t.Errorf("Code Red II host %s: %q on the call list after a rescan without --confirm, want infected", ip, verdict[ip])
		}
	}
	for _, ip := range patched {
		if v, listed := verdict[ip]; listed {
			t.Errorf("patched host %s is on the call list as %s", ip, v)
		}
	}
}
