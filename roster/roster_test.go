package roster

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"redsweep/store"
)

func TestReadGood(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opt  Options
		want []store.Customer
	}{
		{
			name: "basic with derived subnet",
			in:   "ip,customer_id,name,phone\n10.1.2.3,C1,Ann Lee,555-0101\n",
			want: []store.Customer{{ID: "C1", Name: "Ann Lee", Phone: "555-0101",
				Addr: netip.MustParsePrefix("10.1.2.3/32"), Subnet: netip.MustParsePrefix("10.1.2.0/24")}},
		},
		{
			name: "BOM, CRLF, any order, mixed-case header, quoted, blank lines, plan",
			in: "\xef\xbb\xbfPlan,Phone,NAME,Customer_ID,IP,Subnet\r\n\r\n" +
				"biz,\"+1 (555) 0102\",\"Lee, Bob\",C2,10.1.8.8/29,10.1.8.0/22\r\n\r\n",
			want: []store.Customer{{ID: "C2", Name: "Lee, Bob", Phone: "+1 (555) 0102", Plan: "biz",
				Addr: netip.MustParsePrefix("10.1.8.8/29"), Subnet: netip.MustParsePrefix("10.1.8.0/22")}},
		},
		{
			name: "IPv6 and group prefix options, mapped address unmapped",
			in:   "ip,customer_id,name,phone\n2001:db8:1:2::5,C3,C,1\n::ffff:10.9.9.9,C4,D,2\n",
			opt:  Options{GroupPrefix4: 20, GroupPrefix6: 56},
			want: []store.Customer{
				{ID: "C3", Name: "C", Phone: "1", Addr: netip.MustParsePrefix("2001:db8:1:2::5/128"), Subnet: netip.MustParsePrefix("2001:db8:1::/56")},
				{ID: "C4", Name: "D", Phone: "2", Addr: netip.MustParsePrefix("10.9.9.9/32"), Subnet: netip.MustParsePrefix("10.9.0.0/20")},
			},
		},
		{
			name: "one customer with two lines; exact duplicate row dropped; block wider than group is its own subnet",
			in:   "ip,customer_id,name,phone\n10.0.0.1,C1,A,1\n10.0.4.0/23,C1,A,1\n10.0.0.1,C1,A,1\n",
			want: []store.Customer{
				{ID: "C1", Name: "A", Phone: "1", Addr: netip.MustParsePrefix("10.0.0.1/32"), Subnet: netip.MustParsePrefix("10.0.0.0/24")},
				{ID: "C1", Name: "A", Phone: "1", Addr: netip.MustParsePrefix("10.0.4.0/23"), Subnet: netip.MustParsePrefix("10.0.4.0/23")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tt.in), "roster.csv", tt.opt)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d customers %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	const h = "ip,customer_id,name,phone\n"
	tests := []struct {
		name string
		in   string
		want []string // every substring must appear in the error
	}{
		{"empty file", "", []string{"roster.csv: is empty"}},
		{"header only", h, []string{"no customer rows"}},
		{"semicolons", "ip;customer_id;name;phone\n1.2.3.4;C;N;1\n", []string{"roster.csv line 1", "looks like ';'-separated; redsweep expects commas"}},
		{"tabs", "ip\tcustomer_id\tname\tphone\n", []string{"looks like tab-separated"}},
		{"unknown column", "ip,customer_id,name,phone,email\n", []string{`unknown column(s) "email"`}},
		{"missing column", "ip,customer_id,name\n", []string{"lacks required column(s) phone"}},
		{"duplicate column", "ip,ip,customer_id,name,phone\n", []string{`column "ip" appears twice`}},
		{"bad ip", h + "10.0.0.1,C1,A,1\n10.0.0.300,C2,B,2\n", []string{`roster.csv line 3, field "ip": "10.0.0.300" is not an IP address or CIDR block`}},
		{"empty ip", h + ",C1,A,1\n", []string{`line 2, field "ip": is empty`}},
		{"host bits", h + "10.0.0.9/29,C1,A,1\n", []string{"has host bits set; did you mean 10.0.0.8/29?"}},
		{"too wide v4", h + "10.0.0.0/8,C1,A,1\n", []string{"wider than /16"}},
		{"too wide v6", h + "2001:db8::/32,C1,A,1\n", []string{"wider than /48"}},
		{"reserved", h + "240.0.0.1,C1,A,1\n", []string{"reserved range"}},
		{"multicast", h + "224.0.0.1,C1,A,1\n", []string{"not a customer address"}},
		{"field count", h + "10.0.0.1,C1,A\n", []string{"line 2: has 3 fields, the header has 4"}},
		{"empty id", h + "10.0.0.1,,A,1\n", []string{`field "customer_id": is empty`}},
		{"phone without digits", h + "10.0.0.1,C1,A,call me\n", []string{`field "phone": "call me" has no digits`}},
		{"bad subnet", "ip,customer_id,name,phone,subnet\n10.0.0.1,C1,A,1,10.0.0.0/33\n", []string{`field "subnet": "10.0.0.0/33" is not a CIDR block`}},
		{"not inside subnet", "ip,customer_id,name,phone,subnet\n10.0.1.1,C1,A,1,10.0.0.0/24\n", []string{"ip 10.0.1.1/32 is not inside subnet 10.0.0.0/24"}},
		{"block wider than subnet", "ip,customer_id,name,phone,subnet\n10.0.0.0/23,C1,A,1,10.0.0.0/24\n", []string{"not inside subnet"}},
		{"family mismatch", "ip,customer_id,name,phone,subnet\n10.0.0.1,C1,A,1,2001:db8::/64\n", []string{"different address families"}},
		{"same ip two customers", h + "10.0.0.1,C1,A,1\n10.0.0.1,C2,B,2\n", []string{`line 3, field "ip": 10.0.0.1/32 is also customer "C1"'s address on line 2`}},
		{"same ip same customer different data", "ip,customer_id,name,phone,plan\n10.0.0.1,C1,A,1,x\n10.0.0.1,C1,A,1,y\n", []string{"already on line 2 with different data"}},
		{"overlapping blocks", h + "10.0.0.9,C2,B,2\n10.0.0.8/29,C1,A,1\n", []string{`line 3, field "ip": 10.0.0.8/29 (customer "C1") overlaps 10.0.0.9/32 (customer "C2") on line 2`}},
		{"duplicate id different name", h + "10.0.0.1,C1,Ann,1\n10.0.0.2,C1,Bob,1\n", []string{`line 3, field "name": customer "C1" has name "Bob" here but "Ann" on line 2`}},
		{"bare quote", h + "10.0.0.1,C1,A\"x,1\n", []string{"roster.csv line 2:", "bare"}},
		{"control char", h + "10.0.0.1,C1,A\x01,1\n", []string{"control character"}},
		{"several errors reported, in line order", h + "x,C1,A,1\n10.0.0.2,C2,B,2\n10.0.0.2,C3,C,3\ny,C4,D,4\n",
			[]string{"line 2,", "line 4,", "line 5,"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tt.in), "roster.csv", Options{})
			if err == nil {
				t.Fatalf("Read succeeded with %+v; want error", got)
			}
			if got != nil {
				t.Errorf("Read returned %d customers along with an error", len(got))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestReadErrorOrderAndLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("ip,customer_id,name,phone\n")
	for range MaxErrors + 10 {
		b.WriteString("bogus,C,A,1\n")
	}
	_, err := Read(strings.NewReader(b.String()), "r.csv", Options{})
	if err == nil {
		t.Fatal("want error")
	}
	var n int
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(line, "r.csv line") {
			n++
		}
	}
	if n != MaxErrors {
		t.Errorf("reported %d row errors, want %d", n, MaxErrors)
	}
	if !strings.Contains(err.Error(), "stopped after 20 errors") {
		t.Errorf("error does not say it stopped: %v", err)
	}
	var re *Error
	if !errors.As(err, &re) || re.Line != 2 || re.Field != "ip" {
		t.Errorf("first error = %+v, want line 2 field ip", re)
	}
}

func TestOptionsValidated(t *testing.T) {
	_, err := Read(strings.NewReader("ip,customer_id,name,phone\n10.0.0.1,C,A,1\n"), "r.csv", Options{GroupPrefix4: 40})
	if err == nil || !strings.Contains(err.Error(), "/40") {
		t.Fatalf("err = %v, want out-of-range group prefix", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add("ip,customer_id,name,phone\n10.1.2.3,C1,Ann,555\n")
	f.Add("\xef\xbb\xbfip,customer_id,name,phone,subnet,plan\r\n10.1.8.8/29,C2,\"B, b\",1,10.1.8.0/24,x\r\n")
	f.Add("ip;customer_id\n")
	f.Add("ip,customer_id,name,phone\n10.0.0.8/29,C1,A,1\n10.0.0.9,C2,B,2\n2001:db8::1,C3,C,3\n")
	f.Add("ip,customer_id,name,phone\n\"10.0.0.1,C1,A,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		cs, err := Read(strings.NewReader(in), "fuzz.csv", Options{})
		if err != nil {
			if cs != nil {
				t.Fatal("customers returned with an error")
			}
			return
		}
		for _, c := range cs {
			if !c.Addr.IsValid() || !c.Subnet.IsValid() || c.ID == "" {
				t.Fatalf("invalid customer accepted: %+v", c)
			}
			if !c.Subnet.Contains(c.Addr.Addr()) || c.Subnet.Bits() > c.Addr.Bits() {
				t.Fatalf("address %s outside subnet %s accepted", c.Addr, c.Subnet)
			}
		}
	})
}
