package benchnet

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Found is what one tool reported: addresses with the port open, and those it says run IIS.
// Garbage counts output lines that should have named an address but did not parse.
type Found struct {
	Open, IIS map[netip.Addr]bool
	Garbage   int
}

// Score compares a tool's findings with the truth: hits and false positives, for open and IIS.
type Score struct{ OpenHit, OpenFP, IISHit, IISFP int }

func (f Found) Score(open, iis map[netip.Addr]bool) Score {
	var s Score
	for a := range f.Open {
		if open[a] {
			s.OpenHit++
		} else {
			s.OpenFP++
		}
	}
	s.OpenFP += f.Garbage
	for a := range f.IIS {
		if iis[a] {
			s.IISHit++
		} else {
			s.IISFP++
		}
	}
	return s
}

var ipv4RE = regexp.MustCompile(`\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::(\d+))?\b`)

// Parse reads one tool's output in the given format; port is the scanned port.
//
//	ips          "ip" or "ip:port" a line (naabu, zmap); unparseable non-empty lines are garbage
//	nmap-grep    nmap -oG: "Host: ip () Ports: 80/open/tcp//http///"
//	nmap-normal  nmap normal output with --script http-server-header
//	masscan      masscan -oL: "open tcp 80 ip ts"
//	httpx        httpx text lines "http://ip:80 [..] [Microsoft-IIS/5.0]": every line open, IIS by server
//	redsweep-csv redsweep export CSV with a header naming ip, port, status, product
func Parse(format string, r io.Reader, port int) (Found, error) {
	f := Found{Open: map[netip.Addr]bool{}, IIS: map[netip.Addr]bool{}}
	if format == "redsweep-csv" {
		return f, parseRedsweep(r, port, &f)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var cur netip.Addr // nmap-normal: host of the current report
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		switch format {
		case "ips":
			m := ipv4RE.FindStringSubmatch(line)
			a, err := netip.ParseAddr(firstOr(m, 1))
			if m == nil || err != nil || (m[2] != "" && m[2] != strconv.Itoa(port)) {
				f.Garbage++
				continue
			}
			f.Open[a] = true
		case "nmap-grep":
			if !strings.HasPrefix(line, "Host:") || !strings.Contains(line, "Ports:") {
				continue
			}
			m := ipv4RE.FindStringSubmatch(line)
			if a, err := netip.ParseAddr(firstOr(m, 1)); err == nil && strings.Contains(line, " "+strconv.Itoa(port)+"/open/") {
				f.Open[a] = true
			}
		case "nmap-normal":
			if rest, ok := strings.CutPrefix(line, "Nmap scan report for "); ok {
				m := ipv4RE.FindStringSubmatch(rest)
				cur, _ = netip.ParseAddr(firstOr(m, 1))
				continue
			}
			if !cur.IsValid() {
				continue
			}
			if strings.HasPrefix(line, strconv.Itoa(port)+"/tcp") && strings.Fields(line)[1] == "open" {
				f.Open[cur] = true
			}
			if strings.Contains(line, "http-server-header:") && strings.Contains(line, "Microsoft-IIS") {
				f.IIS[cur] = true
			}
		case "masscan":
			fs := strings.Fields(line)
			if len(fs) >= 4 && fs[0] == "open" && fs[2] == strconv.Itoa(port) {
				if a, err := netip.ParseAddr(fs[3]); err == nil {
					f.Open[a] = true
				}
			}
		case "httpx":
			m := ipv4RE.FindStringSubmatch(line)
			a, err := netip.ParseAddr(firstOr(m, 1))
			if err != nil {
				f.Garbage++
				continue
			}
			f.Open[a] = true
			if strings.Contains(line, "Microsoft-IIS") {
				f.IIS[a] = true
			}
		default:
			return f, fmt.Errorf("unknown format %q", format)
		}
	}
	return f, sc.Err()
}

func firstOr(m []string, i int) string {
	if len(m) > i {
		return m[i]
	}
	return ""
}

func parseRedsweep(r io.Reader, port int, f *Found) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, need := range []string{"ip", "status"} {
		if _, ok := col[need]; !ok {
			return fmt.Errorf("redsweep CSV has no %q column (header: %v)", need, head)
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		a, err := netip.ParseAddr(get(rec, "ip"))
		if err != nil {
			f.Garbage++
			continue
		}
		if p := get(rec, "port"); p != "" && p != strconv.Itoa(port) {
			continue
		}
		if get(rec, "status") != "success" {
			continue
		}
		f.Open[a] = true
		// Exactly "Microsoft IIS": "unknown (imitates Microsoft IIS)" and IIS Express are not IIS hosts.
		if get(rec, "product") == "Microsoft IIS" {
			f.IIS[a] = true
		}
	}
}
