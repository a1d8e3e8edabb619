// Command benchgen writes the inputs `make bench` uses to measure passive
// evidence: a packet capture and a web-server access log in which a known
// share of the traffic is Code Red II. The data are synthetic (no packet is
// sent anywhere); the worm lines carry the real request bytes.
//
//	benchgen -pcap FILE -flows N   # pcap: N TCP flows, each SYN, SYN-ACK, ACK, request, FIN
//	benchgen -log FILE -lines N    # Apache combined log
//
// Every 20th flow or line is a Code Red II request from one of 500
// infected sources; the rest are ordinary page views.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

var codeRed2 = "GET /default.ida?" + strings.Repeat("X", 224) +
	"%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a HTTP/1.0\r\n" +
	"Content-type: text/xml\r\nContent-length: 3379\r\n\r\n"

func main() {
	pcapPath := flag.String("pcap", "", "write a capture to `FILE`")
	flows := flag.Int("flows", 100000, "TCP flows in the capture")
	logPath := flag.String("log", "", "write an access log to `FILE`")
	lines := flag.Int("lines", 2000000, "lines in the log")
	flag.Parse()
	if *pcapPath == "" && *logPath == "" {
		fmt.Fprintln(os.Stderr, "benchgen: give -pcap FILE and/or -log FILE")
		os.Exit(2)
	}
	if *pcapPath != "" {
		if err := writePcap(*pcapPath, *flows); err != nil {
			fmt.Fprintln(os.Stderr, "benchgen:", err)
			os.Exit(1)
		}
	}
	if *logPath != "" {
		if err := writeLog(*logPath, *lines); err != nil {
			fmt.Fprintln(os.Stderr, "benchgen:", err)
			os.Exit(1)
		}
	}
}

// source returns flow i's client address: 500 infected hosts for worm
// flows, many ordinary ones otherwise (TEST-NET ranges: documentation only).
func source(i int, worm bool) net.IP {
	if worm {
		return net.IPv4(198, 51, 100, byte(i/20%250)).To4()
	}
	return net.IPv4(203, 0, byte(113+i%2), byte(i%251)).To4()
}

func writePcap(path string, flows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	t := time.Date(2001, 8, 4, 12, 0, 0, 0, time.UTC)
	for i := range flows {
		worm := i%20 == 0
		// An ordinary client browses a handful of servers; a worm scans many.
		srv := 1 + (i%251+i/5020)%200
		if worm {
			srv = 1 + (i/20)%200
		}
		client, server := source(i, worm), net.IPv4(192, 0, 2, byte(srv)).To4()
		cport := layers.TCPPort(1024 + i%60000)
		req := fmt.Sprintf("GET /page%d.html HTTP/1.0\r\nHost: www.example.net\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 5.5)\r\n\r\n", i%1000)
		if worm {
			req = codeRed2
		}
		type seg struct {
			fromClient         bool
			syn, ack, fin, psh bool
			payload            string
		}
		for k, s := range []seg{{fromClient: true, syn: true}, {syn: true, ack: true}, {fromClient: true, ack: true},
			{fromClient: true, ack: true, psh: true, payload: req}, {fromClient: true, ack: true, fin: true}} {
			src, dst, sp, dp := client, server, cport, layers.TCPPort(80)
			if !s.fromClient {
				src, dst, sp, dp = server, client, 80, cport
			}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
			tcp := &layers.TCP{SrcPort: sp, DstPort: dp, SYN: s.syn, ACK: s.ack, FIN: s.fin, PSH: s.psh, Window: 8760, Seq: 1000, Ack: 1}
			if s.fromClient && !s.syn {
				tcp.Seq = 1001
			}
			if s.fin {
				tcp.Seq = 1001 + uint32(len(req))
			}
			tcp.SetNetworkLayerForChecksum(ip)
			if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(s.payload)); err != nil {
				return err
			}
			t = t.Add(time.Duration(50+k) * time.Microsecond)
			ci := gopacket.CaptureInfo{Timestamp: t, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
			if err := w.WritePacket(ci, buf.Bytes()); err != nil {
				return err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func writeLog(path string, lines int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	t := time.Date(2001, 8, 4, 12, 0, 0, 0, time.FixedZone("EDT", -4*3600))
	crII := strings.Fields(codeRed2)[1]
	for i := range lines {
		t = t.Add(50 * time.Millisecond)
		ts := t.Format("02/Jan/2006:15:04:05 -0700")
		if i%20 == 0 {
			fmt.Fprintf(bw, "%s - - [%s] \"GET %s HTTP/1.0\" 404 299 \"-\" \"-\"\n", source(i, true), ts, crII)
		} else {
			fmt.Fprintf(bw, "%s - - [%s] \"GET /page%d.html HTTP/1.0\" 200 %d \"http://www.example.net/\" \"Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)\"\n",
				source(i, false), ts, i%1000, 1000+i%5000)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}
