package benchnet

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	tunSetIff = 0x400454ca
	iffTap    = 0x0002
	iffNoPi   = 0x1000
)

// OpenTap attaches to the existing (persistent) TAP device name inside the network namespace
// at nsPath ("" = the caller's). The returned file stays bound to that device whatever namespace
// the process is in afterwards. Only the locked helper thread enters the namespace; it is
// discarded afterwards, so the rest of the process is unaffected.
func OpenTap(nsPath, name string) (*os.File, error) {
	type res struct {
		f   *os.File
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if nsPath != "" {
			nsf, err := os.Open(nsPath)
			if err != nil {
				ch <- res{nil, err}
				return
			}
			_, _, e := syscall.RawSyscall(sysSetns, nsf.Fd(), syscall.CLONE_NEWNET, 0)
			nsf.Close()
			if e != 0 {
				ch <- res{nil, fmt.Errorf("setns %s: %v", nsPath, e)}
				return
			}
		}
		fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{nil, fmt.Errorf("open /dev/net/tun: %v", err)}
			return
		}
		var ifr [40]byte
		copy(ifr[:15], name)
		*(*uint16)(unsafe.Pointer(&ifr[16])) = iffTap | iffNoPi
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
			syscall.Close(fd)
			ch <- res{nil, fmt.Errorf("TUNSETIFF %s: %v", name, e)}
			return
		}
		ch <- res{os.NewFile(uintptr(fd), "tap:"+name), nil}
	}()
	r := <-ch
	return r.f, r.err
}

// WireStats counts frames per direction: forwarded, dropped at a full queue, failed writes.
type WireStats struct{ Forwarded, Dropped, WriteErr atomic.Int64 }

// Wire copies Ethernet frames between two TAP devices in both directions, holding each frame for
// Delay (one way). Each direction has a FIFO of at most Queue frames; a frame arriving at a
// full queue is dropped (and counted), like a full router queue.
type Wire struct {
	Delay time.Duration
	Queue int
	AtoB  WireStats
	BtoA  WireStats
}

type frame struct {
	buf *[]byte
	n   int
	due time.Time
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 2048); return &b }}

// Run forwards until ctx ends. Reads block in dedicated threads (a blocked read(2) on a TAP
// cannot be interrupted), so Run returns at ctx end without waiting for them; the caller exits.
func (w *Wire) Run(ctx context.Context, a, b *os.File) {
	if w.Queue <= 0 {
		w.Queue = 10000
	}
	go w.pump(ctx, a, b, &w.AtoB)
	go w.pump(ctx, b, a, &w.BtoA)
	<-ctx.Done()
	// The pumps use the raw descriptors; without this the *os.File finalizers could close the
	// TAPs under them once a and b are unreachable (the link then goes NO-CARRIER).
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
}

func (w *Wire) pump(ctx context.Context, in, out *os.File, st *WireStats) {
	q := make(chan frame, w.Queue)
	rfd, wfd := int(in.Fd()), int(out.Fd())
	go func() {
		defer close(q)
		for ctx.Err() == nil {
			bp := framePool.Get().(*[]byte)
			n, err := syscall.Read(rfd, *bp)
			if err != nil {
				framePool.Put(bp)
				if err == syscall.EINTR || err == syscall.EAGAIN {
					continue
				}
				return
			}
			select {
			case q <- frame{bp, n, time.Now().Add(w.Delay)}:
			default:
				st.Dropped.Add(1)
				framePool.Put(bp)
			}
		}
	}()
	for f := range q {
		if d := time.Until(f.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := syscall.Write(wfd, (*f.buf)[:f.n]); err == nil {
			st.Forwarded.Add(1)
		} else {
			st.WriteErr.Add(1)
		}
		framePool.Put(f.buf)
	}
}
