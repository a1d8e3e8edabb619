package benchnet

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAssignDeterministicAndCounted(t *testing.T) {
	spec := RoleSpec{Prefix: netip.MustParsePrefix("198.18.0.0/20"), Open: 300, IIS: 75, Filtered: 1024, Unr: 100, Seed: 7}
	a, err := Assign(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Assign(spec)
	count := map[Role]int{}
	for addr, r := range a {
		if b[addr] != r {
			t.Fatalf("%s: %v then %v with the same seed", addr, r, b[addr])
		}
		if !spec.Prefix.Contains(addr) || addr == spec.Prefix.Addr() || addr == netip.MustParseAddr("198.18.15.255") {
			t.Fatalf("%s assigned; outside the prefix or its first/last address", addr)
		}
		count[r]++
	}
	if count[OpenIIS] != 75 || count[OpenApache] != 225 || count[Filtered] != 1024 || count[Unreachable] != 100 {
		t.Fatalf("counts %v", count)
	}
	spec.Seed = 8
	c, _ := Assign(spec)
	same := 0
	for addr, r := range a {
		if c[addr] == r {
			same++
		}
	}
	if same == len(a) {
		t.Fatal("another seed gave the same assignment")
	}
	if _, err := Assign(RoleSpec{Prefix: netip.MustParsePrefix("198.18.0.0/30"), Open: 3}); err == nil {
		t.Fatal("3 open hosts in a /30 (2 usable) accepted")
	}
}

func TestTruthFilesRoundTrip(t *testing.T) {
	r, err := Assign(RoleSpec{Prefix: netip.MustParsePrefix("198.18.0.0/24"), Open: 20, IIS: 5, Filtered: 30, Unr: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteTruth(dir, r); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"open.txt": 20, "iis.txt": 5, "filtered.txt": 30, "unreach.txt": 10} {
		s, err := ReadAddrs(filepath.Join(dir, name))
		if err != nil || len(s) != want {
			t.Fatalf("%s: %d addresses, %v; want %d", name, len(s), err, want)
		}
	}
}

func TestParseFormats(t *testing.T) {
	open := map[netip.Addr]bool{netip.MustParseAddr("198.18.0.5"): true, netip.MustParseAddr("198.18.0.6"): true}
	iis := map[netip.Addr]bool{netip.MustParseAddr("198.18.0.5"): true}
	cases := []struct {
		format, in string
		want       Score
	}{
		{"ips", "198.18.0.5:80\n198.18.0.6\n198.18.0.9:80\ndbec:5f02:800:4500::80\n198.18.0.6:81\n", Score{2, 3, 0, 0}},
		{"nmap-grep", "# Nmap\nHost: 198.18.0.5 ()\tStatus: Up\nHost: 198.18.0.5 ()\tPorts: 80/open/tcp//http///\nHost: 198.18.0.7 ()\tPorts: 80/filtered/tcp//http///\n", Score{1, 0, 0, 0}},
		{"nmap-normal", "Nmap scan report for 198.18.0.5\nPORT   STATE SERVICE\n80/tcp open  http\n|_http-server-header: Microsoft-IIS/5.0\nNmap scan report for 198.18.0.6\n80/tcp open  http\n|_http-server-header: Apache/2.4.58 (Ubuntu)\nNmap scan report for 198.18.0.8\n80/tcp closed http\n", Score{2, 0, 1, 0}},
		{"masscan", "#masscan\nopen tcp 80 198.18.0.6 1700000000\nopen tcp 443 198.18.0.5 1\n# end\n", Score{1, 0, 0, 0}},
		{"httpx", "http://198.18.0.5:80 [Microsoft-IIS/5.0]\nhttp://198.18.0.6:80 [Apache/2.4.58 (Ubuntu)]\n", Score{2, 0, 1, 0}},
		{"redsweep-csv", "ip,port,status,verdict,product,version,why\n198.18.0.5,80,success,exposed,Microsoft IIS,5.0,\"a, b\"\n198.18.0.6,80,success,ok,Apache,2.4.58,\n198.18.0.7,80,timeout,,,,\n198.18.0.8,80,success,exposed,Microsoft IIS,5.0,\n198.18.0.6,80,success,web,unknown (imitates Microsoft IIS),,\n", Score{2, 1, 1, 1}},
	}
	for _, c := range cases {
		f, err := Parse(c.format, strings.NewReader(c.in), 80)
		if err != nil {
			t.Fatalf("%s: %v", c.format, err)
		}
		if got := f.Score(open, iis); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.format, got, c.want)
		}
	}
	if _, err := Parse("redsweep-csv", strings.NewReader("addr,state\n"), 80); err == nil {
		t.Error("CSV without ip/status columns accepted")
	}
}

func TestServerAnswersPerRole(t *testing.T) {
	iisAddr, apacheAddr, closed := netip.MustParseAddr("127.77.0.5"), netip.MustParseAddr("127.77.0.6"), netip.MustParseAddr("127.77.0.7")
	var lns []net.Listener
	for _, a := range []netip.Addr{iisAddr, apacheAddr, closed} {
		ln, err := net.Listen("tcp4", netip.AddrPortFrom(a, 0).String())
		if err != nil {
			t.Skipf("cannot listen on %s: %v", a, err)
		}
		lns = append(lns, ln)
	}
	s := &Server{IIS: map[netip.Addr]bool{iisAddr: true}, Open: map[netip.Addr]bool{iisAddr: true, apacheAddr: true}, AddrHdr: true}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lns) }()
	get := func(ln net.Listener, path string) string {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write([]byte("GET " + path + " HTTP/1.0\r\n\r\n"))
		var b strings.Builder
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		return b.String()
	}
	if r := get(lns[0], "/"); !strings.HasPrefix(r, "HTTP/1.0 200 OK") || !strings.Contains(r, "Server: Microsoft-IIS/5.0") || !strings.Contains(r, "X-Testnet-Addr: 127.77.0.5") {
		t.Errorf("IIS root: %q", r)
	}
	if r := get(lns[0], "/default.ida?NNNN"); !strings.HasPrefix(r, "HTTP/1.0 404") {
		t.Errorf("IIS other path: %q", r)
	}
	if r := get(lns[1], "/"); !strings.Contains(r, "Server: Apache/") {
		t.Errorf("Apache root: %q", r)
	}
	if r := get(lns[2], "/"); r != "" {
		t.Errorf("address that is not open answered %q", r)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if served, refused := s.Stats(); served != 3 || refused != 1 {
		t.Errorf("stats %d served %d refused", served, refused)
	}
}

func TestConnectScanLoopback(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("not Linux")
	}
	open := netip.MustParseAddr("127.78.0.9")
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(open, 0).String())
	if err != nil {
		t.Skip(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	var found []netip.Addr
	refused, _, _ := ConnectScan(context.Background(), netip.MustParsePrefix("127.78.0.0/28"), port, 4, 1000, time.Second, func(a netip.Addr) { found = append(found, a) })
	if len(found) != 1 || found[0] != open || refused != 15 {
		t.Fatalf("found %v, %d refused", found, refused)
	}
}
