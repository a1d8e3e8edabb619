package benchnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server answers HTTP/1.0 requests as IIS 5.0 or Apache depending on the local address the client
// connected to (one 0.0.0.0 listener serves every AnyIP address). Addresses that are not open
// in the role set get their connection closed at once (nft normally stops them earlier).
type Server struct {
	IIS      map[netip.Addr]bool // open addresses answering as IIS 5.0
	Open     map[netip.Addr]bool // all open addresses (IIS and Apache)
	AddrHdr  bool                // add X-Testnet-Addr
	MaxConns int                 // concurrent connections; more are closed at once
	Timeout  time.Duration       // per-connection deadline

	served, refused atomic.Int64
}

// Stats returns the number of connections answered and the number closed unanswered.
func (s *Server) Stats() (served, refused int64) { return s.served.Load(), s.refused.Load() }

// Serve accepts on each listener until ctx ends.
func (s *Server) Serve(ctx context.Context, lns []net.Listener) error {
	if s.MaxConns <= 0 {
		s.MaxConns = 4096
	}
	if s.Timeout <= 0 {
		s.Timeout = 5 * time.Second
	}
	sem := make(chan struct{}, s.MaxConns)
	var wg sync.WaitGroup
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "too many open files") {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					errc <- err
					return
				}
				select {
				case sem <- struct{}{}:
					go func() { defer func() { <-sem }(); s.handle(c) }()
				default:
					s.refused.Add(1)
					c.Close()
				}
			}
		}()
	}
	go func() {
		<-ctx.Done()
		for _, ln := range lns {
			ln.Close()
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	local, ok := c.LocalAddr().(*net.TCPAddr)
	if !ok {
		return
	}
	addr := local.AddrPort().Addr().Unmap()
	if !s.Open[addr] {
		s.refused.Add(1)
		return
	}
	c.SetDeadline(time.Now().Add(s.Timeout))
	// Read the request head (capped); answer even if the client sends nothing useful.
	buf := make([]byte, 0, 2048)
	tmp := make([]byte, 1024)
	for len(buf) < 8192 && !bytes.Contains(buf, []byte("\r\n\r\n")) && !bytes.Contains(buf, []byte("\n\n")) {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			break
		}
	}
	method, path := "GET", "/"
	if line, _, ok := bytes.Cut(buf, []byte("\n")); ok || len(line) > 0 {
		f := strings.Fields(string(line))
		if len(f) >= 2 {
			method, path = f[0], f[1]
		}
	}
	c.Write(Response(s.IIS[addr], method, path, addr, s.AddrHdr, time.Now()))
	s.served.Add(1)
}

const iisRoot = `<html><head><title>Under Construction</title></head><body><h1>Under Construction</h1>` +
	`<p>The site you were trying to reach does not currently have a default page.</p></body></html>`
const iis404 = `<html><head><title>The page cannot be found</title></head><body>` +
	`<h2>HTTP 404 - File not found</h2>Internet Information Services</body></html>`
const apacheRoot = `<html><body><h1>It works!</h1></body></html>`
const apache404 = `<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN"><html><head><title>404 Not Found</title></head>` +
	`<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>`

// Response is the complete HTTP/1.0 answer for one request. "/" answers 200, anything else 404.
func Response(iis bool, method, path string, addr netip.Addr, addrHdr bool, now time.Time) []byte {
	status, body, server := "200 OK", apacheRoot, "Apache/2.4.58 (Ubuntu)"
	if iis {
		server, body = "Microsoft-IIS/5.0", iisRoot
	}
	if path != "/" && path != "/index.html" && path != "/iisstart.asp" {
		status = "404 Not Found"
		if iis {
			body = iis404
		} else {
			body = apache404
		}
	}
	var b bytes.Buffer
	// Server before Date and a GMT date, as IIS 5.0 writes them (redsweep's fingerprint treats
	// other framing as an imitator).
	fmt.Fprintf(&b, "HTTP/1.0 %s\r\nServer: %s\r\nDate: %s\r\n", status, server, now.UTC().Format(http.TimeFormat))
	if iis {
		b.WriteString("Content-Location: http://" + addr.String() + "/iisstart.htm\r\n")
	}
	if addrHdr {
		b.WriteString("X-Testnet-Addr: " + addr.String() + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(body))
	if method != "HEAD" {
		b.WriteString(body)
	}
	return b.Bytes()
}
