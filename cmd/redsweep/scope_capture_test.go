package main

import (
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/afpacket"
	"github.com/google/gopacket/layers"
)

func TestScratchCapture(t *testing.T) {
	tp, err := afpacket.NewTPacket(afpacket.OptInterface("lo"), afpacket.OptPollTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	go func() {
		time.Sleep(200 * time.Millisecond)
		c, err := net.DialTimeout("tcp", "127.95.1.2:18095", time.Second)
		t.Log("dial", c, err)
	}()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		data, ci, err := tp.ZeroCopyReadPacketData()
		if err != nil {
			continue
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.DstPort == 18095 || ok && tcp.SrcPort == 18095 {
			ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			t.Log(ci.Length, ip.SrcIP, ip.DstIP, tcp.SYN, tcp.ACK, tcp.RST, len(data))
		}
	}
	s1, s3, err := tp.SocketStats()
	t.Log(s1, s3, err)
}
