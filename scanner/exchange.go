package scanner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"redsweep/fingerprint"
	"redsweep/triage"
)

// end says why reading an answer stopped.
type end uint8

const (
	endComplete end = iota // EOF, or Content-Length bytes received
	endTimeout             // deadline (connection or host) reached
	endCap                 // ReadCap bytes read
	endReset               // connection reset by the peer
	endWrite               // the request could not be sent
	endError               // anything else
	endAborted             // the sweep was cancelled
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, DefaultReadCap); return &b }}

func getBuf(n int) (*[]byte, func()) {
	if n != DefaultReadCap {
		b := make([]byte, n)
		return &b, func() {}
	}
	b := bufPool.Get().(*[]byte)
	return b, func() { bufPool.Put(b) }
}

// outcome is how an exchange ended.
type outcome struct {
	why     end
	headers bool // a complete header block was read
}

// exchange sends one request on conn and reads the answer, never past
// readCap bytes nor past deadline, then closes conn. Cancelling ctx aborts
// it at once. It returns the recorded exchange and how reading ended.
func exchange(ctx context.Context, conn net.Conn, probe string, req []byte, deadline time.Time, readCap int) (triage.Exchange, outcome) {
	ex := triage.Exchange{Probe: probe, Path: requestPath(req), At: time.Now()}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	// A cancelled sweep must not wait out a tarpit's deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	bp, put := getBuf(readCap)
	defer put()
	buf := (*bp)[:readCap]
	var (
		n, hdrEnd = 0, -1
		why       end
		err       error
	)
	if _, err = conn.Write(req); err != nil {
		why = endWrite
	} else {
		n, hdrEnd, why, err = readAnswer(conn, buf)
	}
	if ctx.Err() != nil && why != endComplete {
		why = endAborted
	}
	raw := buf[:n]
	resp := fingerprint.Parse(raw)
	if resp.Proto != "" {
		ex.Status = resp.StatusCode
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			ex.StatusLine = string(bytes.TrimRight(raw[:i], "\r"))
		} else {
			ex.StatusLine = string(raw[:min(len(raw), 200)])
		}
	}
	ex.Print = fingerprint.AnalyzeResponse(&resp)
	ex.Body = bytes.Clone(resp.Body[:min(len(resp.Body), bodyKeep)])
	ex.Err = describe(why, err, n, readCap)
	if ex.Err == "" {
		// The read ended normally, but the bytes may not be HTTP: say why,
		// so a protocol-error row in the store explains itself.
		ex.Err = resp.Problem()
	}
	return ex, outcome{why: why, headers: hdrEnd >= 0}
}

// readAnswer reads until EOF, the end of a Content-Length body, the buffer
// being full, or an error (deadlines included). It returns the bytes read,
// the end of the header block (-1 when not seen) and why it stopped.
func readAnswer(conn net.Conn, buf []byte) (int, int, end, error) {
	n, hdrEnd, want := 0, -1, -1
	for n < len(buf) {
		m, err := conn.Read(buf[n:])
		from := max(0, n-3)
		n += m
		if hdrEnd < 0 {
			if i := headerEnd(buf[from:n]); i >= 0 {
				hdrEnd = from + i
				want = contentLength(buf[:hdrEnd])
			}
		}
		// HTTP/1.0 servers close after the answer, but one that keeps the
		// connection open must not cost a full timeout per probe.
		if hdrEnd >= 0 && want >= 0 && n >= hdrEnd+want {
			return n, hdrEnd, endComplete, nil
		}
		if err != nil {
			return n, hdrEnd, classifyRead(err), err
		}
	}
	return n, hdrEnd, endCap, nil
}

func classifyRead(err error) end {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return endComplete
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return endTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return endReset
	}
	return endError
}

// headerEnd returns the offset just past the blank line ending the header
// block, or -1.
func headerEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return i + 2
	}
	return -1
}

// contentLength returns the Content-Length in a header block, or -1.
func contentLength(hdr []byte) int {
	for line := range bytes.SplitSeq(hdr, []byte("\n")) {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			continue
		}
		v, err := strconv.Atoi(string(bytes.TrimSpace(val)))
		if err != nil || v < 0 {
			return -1
		}
		return v
	}
	return -1
}

func requestPath(req []byte) string {
	line, _, _ := bytes.Cut(req, []byte("\r\n"))
	f := bytes.Fields(line)
	if len(f) >= 2 {
		return string(f[1])
	}
	return ""
}

func describe(why end, err error, n, readCap int) string {
	switch why {
	case endComplete:
		return ""
	case endTimeout:
		return fmt.Sprintf("read: deadline reached after %d bytes", n)
	case endCap:
		return fmt.Sprintf("read cap of %d bytes reached", readCap)
	case endReset:
		return fmt.Sprintf("connection reset after %d bytes", n)
	case endWrite:
		return fmt.Sprintf("write request: %v", err)
	case endAborted:
		return "sweep cancelled"
	}
	return fmt.Sprintf("read after %d bytes: %v", n, err)
}

// hostStatus is the status the root answer gives its host: success needs a
// status line and a complete header block; a body cut by the cap is fine.
func hostStatus(ex triage.Exchange, o outcome) string {
	switch {
	case ex.Status > 0 && o.headers:
		return StatusSuccess
	case o.why == endTimeout:
		return StatusIOTimeout
	}
	return StatusProtocolError
}
