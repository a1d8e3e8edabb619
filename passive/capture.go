package passive

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/google/gopacket/tcpassembly"

	"redsweep/store"
	"redsweep/triage"
)

// CaptureOptions steer ReadCapture and Live. The zero value gives the
// documented defaults.
type CaptureOptions struct {
	// Worm fan-out: a source sending TCP SYNs to FanoutThreshold or more
	// distinct destinations on one of FanoutPorts within FanoutWindow is
	// evidence (worm-fanout) even without any payload.
	//
	// Defaults: port 80, 20 destinations, 10 s. Why: Code Red ran 100 scanning
	// threads (Code Red II 300–600) and sent hundreds of SYNs a second, so a
	// worm crosses 20 in well under a second and keeps crossing it. A person
	// browsing in 2001 opened connections to a handful of hosts per page
	// (page, images, one ad server); 20 distinct port-80 hosts in 10 s is rare
	// even for a family behind one NAT address. False positives we expect:
	// a proxy/NAT gateway for many users at once, a web crawler or link
	// checker, and a download accelerator spreading over mirrors. A NAT
	// router for a busy office can cross 20 in 10 s at peak. triage maps
	// worm-fanout to "infected" on its own (Severity in verdict.go), so raise
	// the threshold for captures of business/NAT lines; the finding's detail
	// says it is behavioural, so the agent can ask before accusing.
	FanoutPorts      []uint16      // default {80}
	FanoutThreshold  int           // default 20
	FanoutWindow     time.Duration // default 10 s
	MaxFanoutSources int           // sources tracked at once; default 65536 (new ones beyond are counted, not tracked)

	// Bounded reassembly.
	MaxRequestHead   int           // bytes of each direction of a TCP stream kept for matching; default 8192
	FlowTimeout      time.Duration // a flow idle this long (capture time) is flushed and forgotten; default 2 min
	MaxFlows         int           // flows tracked at once; beyond it idle flows are flushed early; default 65536
	MaxBufferedPages int           // out-of-order pages (≈1.9 KiB each) buffered in total; default 4096
	MaxPacketErrors  int           // PacketErrors kept in CaptureStats; default 20
}

func (o *CaptureOptions) defaults() {
	if len(o.FanoutPorts) == 0 {
		o.FanoutPorts = []uint16{80}
	}
	if o.FanoutThreshold <= 0 {
		o.FanoutThreshold = 20
	}
	if o.FanoutWindow <= 0 {
		o.FanoutWindow = 10 * time.Second
	}
	if o.MaxFanoutSources <= 0 {
		o.MaxFanoutSources = 65536
	}
	if o.MaxRequestHead <= 0 {
		o.MaxRequestHead = 8192
	}
	if o.FlowTimeout <= 0 {
		o.FlowTimeout = 2 * time.Minute
	}
	if o.MaxFlows <= 0 {
		o.MaxFlows = 65536
	}
	if o.MaxBufferedPages <= 0 {
		o.MaxBufferedPages = 4096
	}
	if o.MaxPacketErrors <= 0 {
		o.MaxPacketErrors = 20
	}
}

// PacketError is a packet that could not be decoded (not fatal).
type PacketError struct {
	Packet int64 // 1-based packet number in the capture
	Err    string
}

// CaptureStats is what ReadCapture or Live saw.
type CaptureStats struct {
	File     string
	Format   string // "pcap", "pcapng" or "live"
	LinkType string
	Gzip     bool

	Packets      int64 // packets read
	Bytes        int64 // captured bytes
	TCPPackets   int64
	NotDecoded   int64         // packets with no IPv4/IPv6 + TCP we could decode (ARP, UDP, unknown link, ...)
	Fragments    int64         // IPv4 fragments (not reassembled; skipped)
	DecodeErrors int64         // packets whose layers were malformed: every packet error, kept or not
	PacketErrors []PacketError // the first MaxPacketErrors of them; DecodeErrors-len(PacketErrors) more were not kept

	Streams       int64 // TCP stream directions opened by reassembly
	Requests      int64 // HTTP request lines parsed
	Replies       int64 // HTTP responses looked at
	FlowsFlushed  int64 // flows closed by timeout or by the MaxFlows cap
	FanoutDropped int64 // SYNs not tracked because MaxFanoutSources were busy

	ByCode map[string]int64 // worm requests, infected replies and fan-out SYNs per code

	// Sources is the number of distinct source addresses in the evidence.
	// The evidence has one record per (source, code), so one infected host
	// seen sending two worms' requests, or worm requests and a fan-out, is
	// two records and one source.
	Sources int
}

// Capture file magic numbers.
const (
	pcapMagicMicro   = 0xa1b2c3d4
	pcapMagicNano    = 0xa1b23c4d
	pcapngMagic      = 0x0a0d0d0a
	maxSnaplen       = 262144 // tcpdump's maximum; larger records are refused
	expiryCheckEvery = 1024   // packets between flow-expiry checks
)

// ReadCapture reads a pcap or pcapng capture (plain or gzip; detected by
// magic bytes) and returns per-(source, code) evidence with Source =
// triage.SourceCapture. Sample references are "name#packet".
//
// A truncated or corrupt capture returns an error naming the file and the
// packet number where reading stopped, together with the stats and the
// evidence from every packet before it (streams in flight are flushed).
func ReadCapture(ctx context.Context, r io.Reader, name string, opt CaptureOptions) (CaptureStats, []store.Evidence, error) {
	opt.defaults()
	st := CaptureStats{File: name, ByCode: map[string]int64{}}
	br, gz, err := maybeGunzip(r)
	st.Gzip = gz
	if err != nil {
		return st, nil, fmt.Errorf("read capture %s: %w", name, err)
	}
	src, err := openCapture(br, &st)
	if err != nil {
		return st, nil, fmt.Errorf("read capture %s: %w", name, err)
	}
	e := newEngine(name, opt, &st)
	for {
		if st.Packets&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return st, e.finish(), fmt.Errorf("read capture %s: stopped after packet %d: %w", name, st.Packets, err)
			}
		}
		data, ci, err := src.ZeroCopyReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			ev := e.finish()
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return st, ev, fmt.Errorf("read capture %s: packet %d: truncated capture (%w); kept %d packets before it", name, st.Packets+1, err, st.Packets)
			}
			return st, ev, fmt.Errorf("read capture %s: packet %d: %w; kept %d packets before it", name, st.Packets+1, err, st.Packets)
		}
		lt := src.linkType
		if len(ci.AncillaryData) > 0 {
			if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = l
			}
		}
		e.packet(data, ci.Timestamp, lt)
	}
	return st, e.finish(), nil
}

type packetSource struct {
	gopacket.ZeroCopyPacketDataSource
	linkType layers.LinkType
}

func openCapture(br *bufio.Reader, st *CaptureStats) (*packetSource, error) {
	magic, err := br.Peek(4)
	if err != nil {
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("not a capture: only %d bytes", len(magic))
		}
		return nil, err
	}
	le, be := binary.LittleEndian.Uint32(magic), binary.BigEndian.Uint32(magic)
	switch {
	case le == pcapMagicMicro || be == pcapMagicMicro || le == pcapMagicNano || be == pcapMagicNano:
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("pcap header: %w", err)
		}
		if r.Snaplen() == 0 || r.Snaplen() > maxSnaplen {
			r.SetSnaplen(maxSnaplen) // bounds the per-packet allocation
		}
		st.Format, st.LinkType = "pcap", r.LinkType().String()
		return &packetSource{pcapSource{r}, r.LinkType()}, nil
	case le == pcapngMagic:
		r, err := pcapgo.NewNgReader(&ngGuard{r: br}, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, fmt.Errorf("pcapng header: %w", err)
		}
		st.Format, st.LinkType = "pcapng", r.LinkType().String()
		return &packetSource{ngSource{r}, r.LinkType()}, nil
	}
	return nil, fmt.Errorf("not a pcap or pcapng capture (magic %x)", magic)
}

// pcapSource turns a record header followed by the end of the file into a
// truncation. pcapgo reads a record's data with io.ReadFull, which returns
// io.EOF (not io.ErrUnexpectedEOF) when none of it is there, so a capture cut
// right after a 16-byte record header would otherwise end "cleanly" and lose
// the packet without a word. pcapgo fills ci from the header before reading
// the data, so a non-zero CaptureLength with io.EOF means the header was read
// and its data is missing (a header of a zero-length record is a whole
// record: ReadFull of nothing succeeds). TestReadCaptureCutEverywhere pins
// this on every byte offset.
type pcapSource struct{ r *pcapgo.Reader }

func (s pcapSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.r.ZeroCopyReadPacketData()
	if err == io.EOF && ci.CaptureLength > 0 {
		err = fmt.Errorf("record header announces %d bytes, file ends: %w", ci.CaptureLength, io.ErrUnexpectedEOF)
	}
	return data, ci, err
}

// ngSource refuses pcapng records larger than maxSnaplen, as the pcap path
// does (ngGuard has already bounded the allocation by the block length).
type ngSource struct{ r *pcapgo.NgReader }

func (s ngSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.r.ZeroCopyReadPacketData()
	if err == nil && ci.CaptureLength > maxSnaplen {
		return nil, ci, fmt.Errorf("record of %d bytes exceeds %d", ci.CaptureLength, maxSnaplen)
	}
	return data, ci, err
}

// engine decodes packets, feeds TCP reassembly and the fan-out detector, and
// folds what they find into evidence. One engine serves one capture.
type engine struct {
	name string
	opt  CaptureOptions
	st   *CaptureStats
	agg  *aggregator
	fan  *fanout
	asm  *tcpassembly.Assembler
	fac  *streamFactory

	// Decoding: one set of layers, one parser per first layer.
	eth        layers.Ethernet
	dot1q      layers.Dot1Q
	sll        layers.LinuxSLL
	loop       layers.Loopback
	ip4        layers.IPv4
	ip6        layers.IPv6
	tcp        layers.TCP
	parsers    map[layers.LinkType]*gopacket.DecodingLayerParser
	rawParsers [2]*gopacket.DecodingLayerParser // IPv4, IPv6 for raw-IP link types
	decoded    []gopacket.LayerType

	now       time.Time // latest capture time seen
	lastCheck int64
}

func newEngine(name string, opt CaptureOptions, st *CaptureStats) *engine {
	e := &engine{name: name, opt: opt, st: st, agg: newAggregator(triage.SourceCapture, "")}
	e.fan = newFanout(opt, e)
	e.fac = &streamFactory{e: e}
	pool := tcpassembly.NewStreamPool(e.fac)
	e.asm = tcpassembly.NewAssembler(pool)
	e.asm.MaxBufferedPagesTotal = opt.MaxBufferedPages
	e.asm.MaxBufferedPagesPerConnection = max(4, opt.MaxRequestHead/1024)
	dl := []gopacket.DecodingLayer{&e.eth, &e.dot1q, &e.sll, &e.loop, &e.ip4, &e.ip6, &e.tcp}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first, dl...)
		p.IgnoreUnsupported = true
		return p
	}
	e.parsers = map[layers.LinkType]*gopacket.DecodingLayerParser{
		layers.LinkTypeEthernet: mk(layers.LayerTypeEthernet),
		layers.LinkTypeLinuxSLL: mk(layers.LayerTypeLinuxSLL),
		layers.LinkTypeNull:     mk(layers.LayerTypeLoopback),
		layers.LinkTypeLoop:     mk(layers.LayerTypeLoopback),
		layers.LinkTypeRaw:      nil, // raw IP: version nibble picks the parser
		layers.LinkTypeIPv4:     mk(layers.LayerTypeIPv4),
		layers.LinkTypeIPv6:     mk(layers.LayerTypeIPv6),
	}
	p4 := e.parsers[layers.LinkTypeIPv4]
	p6 := e.parsers[layers.LinkTypeIPv6]
	e.rawParsers = [2]*gopacket.DecodingLayerParser{p4, p6}
	return e
}

func (e *engine) packetRef() string { return e.name + "#" + strconv.FormatInt(e.st.Packets, 10) }

// packet handles one captured frame.
func (e *engine) packet(data []byte, ts time.Time, lt layers.LinkType) {
	e.st.Packets++
	e.st.Bytes += int64(len(data))
	if ts.After(e.now) {
		e.now = ts
	}
	p := e.parsers[lt]
	if lt == layers.LinkTypeRaw || lt == 12 { // 12: raw IP on some BSDs (DLT_RAW)
		p = nil
		if len(data) > 0 {
			switch data[0] >> 4 {
			case 4:
				p = e.rawParsers[0]
			case 6:
				p = e.rawParsers[1]
			}
		}
	}
	if p == nil {
		e.st.NotDecoded++
		return
	}
	e.decoded = e.decoded[:0]
	if err := p.DecodeLayers(data, &e.decoded); err != nil {
		var unsup gopacket.UnsupportedLayerType
		if !errors.As(err, &unsup) {
			e.st.DecodeErrors++
			if len(e.st.PacketErrors) < e.opt.MaxPacketErrors {
				e.st.PacketErrors = append(e.st.PacketErrors, PacketError{e.st.Packets, err.Error()})
			}
		}
	}
	var netFlow gopacket.Flow
	var src, dst netip.Addr
	haveIP, haveTCP := false, false
	for _, t := range e.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			if e.ip4.Flags&layers.IPv4MoreFragments != 0 || e.ip4.FragOffset != 0 {
				e.st.Fragments++
				return
			}
			netFlow = e.ip4.NetworkFlow()
			src, _ = netip.AddrFromSlice(e.ip4.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(e.ip4.DstIP.To4())
			haveIP = true
		case layers.LayerTypeIPv6:
			netFlow = e.ip6.NetworkFlow()
			src, _ = netip.AddrFromSlice(e.ip6.SrcIP)
			dst, _ = netip.AddrFromSlice(e.ip6.DstIP)
			haveIP = true
		case layers.LayerTypeTCP:
			haveTCP = true
		}
	}
	if !haveIP || !haveTCP || !src.IsValid() || !dst.IsValid() {
		e.st.NotDecoded++
		return
	}
	e.st.TCPPackets++
	if e.tcp.SYN && !e.tcp.ACK && e.fanoutPort(uint16(e.tcp.DstPort)) {
		e.fan.syn(src, dst, ts)
	}
	e.asm.AssembleWithTimestamp(netFlow, &e.tcp, ts)
	e.expire()
}

func (e *engine) fanoutPort(p uint16) bool {
	for _, q := range e.opt.FanoutPorts {
		if p == q {
			return true
		}
	}
	return false
}

// expire forgets idle flows and fan-out sources (by capture time, so a
// capture read fast or slow gives the same answer), and enforces MaxFlows.
func (e *engine) expire() {
	if e.st.Packets-e.lastCheck < expiryCheckEvery && e.fac.live <= e.opt.MaxFlows {
		return
	}
	e.lastCheck = e.st.Packets
	f, _ := e.asm.FlushOlderThan(e.now.Add(-e.opt.FlowTimeout))
	e.st.FlowsFlushed += int64(f)
	for _, age := range []time.Duration{e.opt.FlowTimeout / 4, time.Second, 0} {
		if e.fac.live <= e.opt.MaxFlows {
			break
		}
		f, _ := e.asm.FlushOlderThan(e.now.Add(-age))
		e.st.FlowsFlushed += int64(f)
	}
	e.fan.expire(e.now)
}

// finish flushes every stream and returns the evidence.
func (e *engine) finish() []store.Evidence {
	e.asm.FlushAll()
	ev := e.agg.evidence()
	e.st.Sources = distinctSources(ev)
	return ev
}

// record adds one sighting to the evidence and the per-code stats.
func (e *engine) record(src netip.Addr, code string, at time.Time, target netip.Addr, n int64, sample []byte) {
	e.st.ByCode[code] += n
	e.agg.add(src, code, at, target, n, e.packetRef, sample)
}
