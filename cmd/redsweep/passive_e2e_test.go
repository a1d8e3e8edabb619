package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"redsweep/internal/simnet"
)

// TestCustomerReportMakesClosedHostInfected: an infected PC often stops
// answering on port 80, but the customers it attacks see it in their logs.
// A Code Red II line in a reported log puts the (closed) host on the call
// list as infected, with the report in its evidence trail.
func TestCustomerReportMakesClosedHostInfected(t *testing.T) {
	n, rosterPath := startNet(t, simnet.Config{
		Prefix: netip.MustParsePrefix("127.96.0.0/24"), Port: 18096, Seed: 5, Hosts: 20, SubnetBits: 26,
	})
	db := filepath.Join(t.TempDir(), "rs.db")
	ctx := context.Background()
	if code, _, errs := cli(t, ctx, "--db", db, "customers", "import", rosterPath); code != 0 {
		t.Fatal(errs)
	}
	if code, out, errs := cli(t, ctx, "--db", db, "sweep", "--ports", "18096", "--timeout", "1s", "--host-timeout", "3s", "--rate", "0", "--quiet"); code != 0 && code != exitNewInfections {
		t.Fatalf("sweep: %d %s %s", code, out, errs)
	}
	var closed simnet.Host
	for _, h := range n.Hosts() {
		if !h.Listening && h.Block.Bits() == h.Addr.BitLen() {
			closed = h
			break
		}
	}
	if !closed.Addr.IsValid() {
		t.Fatal("simnet made no closed single-address customer")
	}
	// A customer's Apache access log, attack one hour ago in the log's own zone.
	when := time.Now().Add(-time.Hour).In(time.FixedZone("EDT", -4*3600)).Format("02/Jan/2006:15:04:05 -0700")
	crII := "/default.ida?" + strings.Repeat("X", 224) +
		"%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a"
	log := fmt.Sprintf("%s - - [%s] \"GET %s HTTP/1.0\" 404 299 \"-\" \"-\"\n", closed.Addr, when, crII) +
		"this line is garbage\n" +
		fmt.Sprintf("10.9.9.9 - - [%s] \"GET /index.html HTTP/1.0\" 200 1043 \"-\" \"Mozilla/4.0\"\n", when)
	logPath := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, logPath, log)
	code, out, errs := cli(t, ctx, "--db", db, "ingest", "--reporter", "C-webmaster", logPath)
	if code != 0 {
		t.Fatalf("ingest: exit %d: %s %s", code, out, errs)
	}
	if !strings.Contains(out, "1 worm lines") || !strings.Contains(out, "1 unparseable") || !strings.Contains(errs, "access.log:2") {
		t.Errorf("ingest should report 1 worm line and the garbage line 2 by number:\n%s%s", out, errs)
	}

	code, out, errs = cli(t, ctx, "--db", db, "calls", "--format", "json")
	if code != 0 {
		t.Fatal(errs)
	}
	var cl struct {
		Subnets []struct {
			Entries []struct {
				IP       string `json:"ip"`
				Verdict  string `json:"verdict"`
				Findings []struct {
					Code   string `json:"code"`
					Source string `json:"source"`
				} `json:"findings"`
			} `json:"entries"`
		} `json:"subnets"`
	}
	if err := json.Unmarshal([]byte(out), &cl); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range cl.Subnets {
		for _, e := range s.Entries {
			if e.IP != closed.Addr.String() {
				continue
			}
			found = true
			if e.Verdict != "infected" {
				t.Errorf("%s: verdict %s, want infected from the customer report", e.IP, e.Verdict)
			}
			if len(e.Findings) == 0 || e.Findings[0].Code != "codered2-traffic" || e.Findings[0].Source != "report" {
				t.Errorf("%s: findings %+v, want codered2-traffic from a report", e.IP, e.Findings)
			}
		}
	}
	if !found {
		t.Errorf("closed host %s reported by a customer is not on the call list:\n%s", closed.Addr, out)
	}
	code, out, _ = cli(t, ctx, "--db", db, "history", closed.Addr.String())
	if code != 0 || !strings.Contains(out, "report: codered2-traffic") || !strings.Contains(out, "C-webmaster") {
		t.Errorf("history should show the report and its reporter:\n%s", out)
	}
}
