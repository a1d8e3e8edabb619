package simnet

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// Config describes the network to simulate. The zero value is the demo
// network: 127.42.0.0/20 port 8080, 16 /24 subnets, 300 listeners among 600
// single-address customers plus two static /30 blocks.
type Config struct {
	Prefix     netip.Prefix  // inside 127.0.0.0/8, /16 to /28; default 127.42.0.0/20
	Port       uint16        // one port for every host; default 8080
	Seed       int64         // layout, names and phones are a pure function of Config
	Hosts      int           // listeners (hostile ones not counted); default 300, at most MaxListeners
	Customers  int           // single-address customers, with or without a listener; default 2×Hosts
	SubnetBits int           // the shared segment; default 24
	SlowDelay  time.Duration // how long the slow host waits before it answers; default 1.5s
	Hostile    bool          // add one host of each hostile personality (issue 7)

	// Mix, when set, gives the exact number of listeners per personality
	// and overrides Hosts. Closed and hostile personalities are not allowed.
	Mix map[Personality]int

	// StaticBlocks is how many business customers hold a static /30 (one
	// address serving, three closed); default 2, -1 for none.
	StaticBlocks int

	// ReadTimeout bounds how long a host waits for a complete request;
	// default 10s. It keeps a stalled client from holding an fd forever.
	ReadTimeout time.Duration

	// Now is the clock for Date headers and the request log; default time.Now.
	Now func() time.Time
}

// MaxListeners caps listeners per network: each is an fd, and a sweep in
// the same test process needs fds too (the limit here is 20,000).
const MaxListeners = 3000

// Loopback is the only range simnet will bind.
var Loopback = netip.MustParsePrefix("127.0.0.0/8")

func (c Config) withDefaults() (Config, error) {
	if !c.Prefix.IsValid() {
		c.Prefix = netip.MustParsePrefix("127.42.0.0/20")
	}
	if c.Port == 0 {
		c.Port = 8080
	}
	if c.SubnetBits == 0 {
		c.SubnetBits = 24
	}
	if c.SlowDelay == 0 {
		c.SlowDelay = 1500 * time.Millisecond
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Mix != nil {
		if err := checkMix(c.Mix); err != nil {
			return c, err
		}
		c.Hosts = 0
		for _, n := range c.Mix {
			c.Hosts += n
		}
	} else if c.Hosts == 0 {
		c.Hosts = 300
	}
	if c.Customers == 0 {
		c.Customers = 2 * c.Hosts
	}
	switch {
	case c.StaticBlocks == 0:
		c.StaticBlocks = 2
	case c.StaticBlocks < 0:
		c.StaticBlocks = 0
	}

	p := c.Prefix
	switch {
	case !p.Addr().Is4() || !Loopback.Contains(p.Addr()) || p.Bits() < Loopback.Bits():
		return c, fmt.Errorf("simnet: refusing prefix %s: simnet serves only loopback addresses (inside %s)", p, Loopback)
	case p.Masked() != p:
		return c, fmt.Errorf("simnet: prefix %s has host bits set; did you mean %s?", p, p.Masked())
	case p.Bits() < 16 || p.Bits() > 28:
		return c, fmt.Errorf("simnet: prefix %s: want /16 to /28", p)
	case c.SubnetBits < p.Bits() || c.SubnetBits > 29:
		return c, fmt.Errorf("simnet: subnet /%d must lie between the prefix length /%d and /29", c.SubnetBits, p.Bits())
	case c.Hosts < 0 || c.Customers < 0 || c.SlowDelay < 0 || c.ReadTimeout < 0:
		return c, errors.New("simnet: Hosts, Customers, SlowDelay and ReadTimeout must not be negative")
	}
	listeners := c.Hosts
	if c.Hostile {
		listeners += len(hostileSet)
	}
	if listeners > MaxListeners {
		return c, fmt.Errorf("simnet: %d listeners is more than %d (each is an fd)", listeners, MaxListeners)
	}
	if c.Customers < c.Hosts {
		return c, fmt.Errorf("simnet: %d customers cannot hold %d listeners", c.Customers, c.Hosts)
	}
	if c.SubnetBits > 28 { // a /30 block needs room beside network and broadcast
		c.StaticBlocks = 0
	}
	return c, nil
}

// Host is one roster address, listening or not.
type Host struct {
	Addr        netip.Addr
	Port        uint16
	Personality Personality
	Listening   bool
	CustomerID  string
	Name        string
	Phone       string
	Plan        string
	Block       netip.Prefix // the roster's ip column: this address, or the static block it is in
	Subnet      netip.Prefix
	Hostile     bool
	Cured       bool // Cure switched it to its clean twin

	// Ground truth: what a default sweep and a --confirm sweep should conclude.
	Verdict         Verdict
	Findings        []string
	ConfirmVerdict  Verdict
	ConfirmFindings []string
}

// customer is one roster row.
type customer struct {
	id, name, phone, plan string
	block                 netip.Prefix
	subnet                netip.Prefix
}

// layout is the whole network, decided before anything binds.
type layout struct {
	customers []customer
	hosts     []*hostState // every roster address, sorted by address
}

var firstNames = []string{"Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
	"Karl", "Laura", "Mallory", "Nina", "Oscar", "Peggy", "Quentin", "Rita", "Sybil", "Trent",
	"Ursula", "Victor", "Wendy", "Xavier", "Yolanda", "Zach", "Agnes", "Boris", "Cecil", "Dora"}

var lastNames = []string{"Abbott", "Baker", "Chen", "Dalton", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
	"Kowalski", "Lopez", "Morgan", "Novak", "O'Brien", "Patel", "Quinn", "Rossi", "Schmidt", "Tanaka",
	"Underwood", "Vargas", "Walsh", "Xu", "Young", "Zimmer"}

// Area codes are real; 555-0100..555-0199 is the range reserved for fiction,
// so no phone number here reaches a person.
var areaCodes = []int{206, 212, 303, 312, 404, 415, 503, 512, 602, 617, 702, 713, 801, 816, 919, 971}

var plans = []string{"dsl-256k", "dsl-768k", "cable-1m", "cable-3m"}

func addrAt(base netip.Addr, off uint32) netip.Addr {
	b := base.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += off
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// plan decides the network. Infected and vulnerable hosts are placed with a
// per-subnet weight that falls steeply with a seeded rank, so one subnet
// holds many and most hold few: the call list's order then means something.
func plan(c Config) (*layout, error) {
	rng := rand.New(rand.NewPCG(uint64(c.Seed), 0x52ed5eeb))
	nSub := 1 << (c.SubnetBits - c.Prefix.Bits())
	subSize := uint32(1) << (32 - c.SubnetBits)
	subnet := func(i int) netip.Prefix {
		return netip.PrefixFrom(addrAt(c.Prefix.Addr(), uint32(i)*subSize), c.SubnetBits)
	}

	// Static blocks first: /30-aligned, never touching a subnet's network or
	// broadcast address.
	taken := map[netip.Addr]bool{}
	var blocks []netip.Prefix
	for range c.StaticBlocks {
		for try := 0; try < 100; try++ {
			si := rng.IntN(nSub)
			slots := subSize/4 - 2 // skip the first and last /30 of the subnet
			if slots < 1 {
				break
			}
			start := addrAt(subnet(si).Addr(), 4*(1+rng.Uint32N(slots)))
			if taken[start] {
				continue
			}
			for k := uint32(0); k < 4; k++ {
				taken[addrAt(start, k)] = true
			}
			blocks = append(blocks, netip.PrefixFrom(start, 30))
			break
		}
	}

	// Single-address customers: a seeded sample of usable addresses.
	var pool []netip.Addr
	for i := 0; i < nSub; i++ {
		base := subnet(i).Addr()
		for off := uint32(1); off < subSize-1; off++ {
			if a := addrAt(base, off); !taken[a] {
				pool = append(pool, a)
			}
		}
	}
	need := c.Customers
	if c.Hostile {
		need += len(hostileSet)
	}
	if need > len(pool) {
		return nil, fmt.Errorf("simnet: %d customers do not fit in %s (%d usable addresses)", need, c.Prefix, len(pool))
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	singles := pool[:c.Customers]
	hostileAddrs := pool[c.Customers:need]

	// Which addresses listen: each block's serving address, then a sample of
	// the singles.
	type slot struct {
		addr   netip.Addr
		subnet int
	}
	subOf := func(a netip.Addr) int {
		b, pb := a.As4(), c.Prefix.Addr().As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		pv := uint32(pb[0])<<24 | uint32(pb[1])<<16 | uint32(pb[2])<<8 | uint32(pb[3])
		return int((v - pv) / subSize)
	}
	var listen []slot
	for _, b := range blocks {
		listen = append(listen, slot{addrAt(b.Addr(), 1+rng.Uint32N(2)), subOf(b.Addr())})
	}
	for _, a := range singles {
		if len(listen) >= c.Hosts {
			break
		}
		listen = append(listen, slot{a, subOf(a)})
	}
	if len(listen) > c.Hosts { // more blocks than hosts: drop block listeners
		listen = listen[:c.Hosts]
	}

	// The personalities to hand out.
	var bag []Personality
	if c.Mix != nil {
		for _, p := range Personalities() {
			for range c.Mix[p] {
				bag = append(bag, p)
			}
		}
	} else {
		bag = defaultBag(rng, c.Hosts)
	}
	var bad, good []Personality
	for _, p := range bag {
		if p.bad() {
			bad = append(bad, p)
		} else {
			good = append(good, p)
		}
	}
	// Infected first, so they take the hot subnets; vulnerable hosts then
	// fill in behind them and spread wider.
	rng.Shuffle(len(bad), func(i, j int) { bad[i], bad[j] = bad[j], bad[i] })
	slices.SortStableFunc(bad, func(a, b Personality) int { return specs[b].verdict.rank() - specs[a].verdict.rank() })
	rng.Shuffle(len(good), func(i, j int) { good[i], good[j] = good[j], good[i] })

	// Subnet weights: rank r gets 1/(r+1)^1.6.
	rank := rng.Perm(nSub)
	weight := make([]float64, nSub)
	for s, r := range rank {
		weight[s] = 1 / math.Pow(float64(r+1), 1.6)
	}
	assigned := make(map[netip.Addr]Personality, len(listen))
	free := slices.Clone(listen)
	for _, p := range bad {
		total := 0.0
		for _, s := range free {
			total += weight[s.subnet]
		}
		x := rng.Float64() * total
		i := 0
		for ; i < len(free)-1; i++ {
			x -= weight[free[i].subnet]
			if x < 0 {
				break
			}
		}
		assigned[free[i].addr] = p
		free = slices.Delete(free, i, i+1)
	}
	for i, s := range free {
		assigned[s.addr] = good[i]
	}

	// Customers, named and numbered in address order so IDs read naturally.
	l := &layout{}
	type entry struct {
		block netip.Prefix
		plan  string
	}
	var entries []entry
	for _, b := range blocks {
		entries = append(entries, entry{b, "business-static"})
	}
	for _, a := range singles {
		entries = append(entries, entry{netip.PrefixFrom(a, 32), plans[rng.IntN(len(plans))]})
	}
	for i, a := range hostileAddrs {
		assigned[a] = hostileSet[i]
		entries = append(entries, entry{netip.PrefixFrom(a, 32), plans[rng.IntN(len(plans))]})
	}
	slices.SortFunc(entries, func(a, b entry) int { return a.block.Addr().Compare(b.block.Addr()) })
	phones := rng.Perm(len(areaCodes) * 100)
	for i, e := range entries {
		ph := phones[i%len(phones)]
		cu := customer{
			id:     fmt.Sprintf("C%05d", 10001+i),
			name:   firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))],
			phone:  fmt.Sprintf("+1-%d-555-01%02d", areaCodes[ph/100], ph%100),
			plan:   e.plan,
			block:  e.block,
			subnet: subnet(subOf(e.block.Addr())),
		}
		l.customers = append(l.customers, cu)
		for k := uint32(0); k < 1<<(32-e.block.Bits()); k++ {
			a := addrAt(e.block.Addr(), k)
			p, ok := assigned[a]
			if !ok {
				p = Closed
			}
			l.hosts = append(l.hosts, newHostState(c, a, p, cu, rng))
		}
	}
	return l, nil
}

// defaultBag draws n personalities: one of each first (so even a small
// network shows every kind), the rest in defaultMix proportions.
func defaultBag(rng *rand.Rand, n int) []Personality {
	var bag []Personality
	total := 0
	for _, m := range defaultMix {
		total += m.n
	}
	order := rng.Perm(len(defaultMix))
	for _, i := range order {
		if len(bag) == n {
			return bag
		}
		bag = append(bag, defaultMix[i].p)
	}
	for len(bag) < n {
		x := rng.IntN(total)
		for _, m := range defaultMix {
			if x -= m.n; x < 0 {
				bag = append(bag, m.p)
				break
			}
		}
	}
	return bag
}

func newHostState(c Config, a netip.Addr, p Personality, cu customer, rng *rand.Rand) *hostState {
	// Home pages last touched in the months before Code Red.
	lm := time.Date(2001, time.Month(1+rng.IntN(7)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), 0, time.UTC)
	ft := uint64(lm.Unix()+11644473600) * 10_000_000 // Windows FILETIME
	return &hostState{
		site: site{
			addr:    a,
			port:    c.Port,
			owner:   cu.name,
			lastMod: lm,
			etag:    fmt.Sprintf(`"%x:%x"`, ft, 0x100+rng.IntN(0xf00)),
		},
		cust: cu,
		p:    p,
	}
}
