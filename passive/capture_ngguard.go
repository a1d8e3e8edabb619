package passive

import (
	"encoding/binary"
	"fmt"
	"io"
)

// ngGuard passes a pcapng stream through unchanged while checking every
// block's length before pcapgo sees it. pcapgo's NgReader allocates whatever
// capture length a block claims (up to 4 GiB: a corrupt file took seconds
// and gigabytes per packet under fuzzing); the guard refuses blocks shorter
// than 12 or longer than maxNgBlock bytes, or not a multiple of 4, with an
// error the caller reports with the packet number.
type ngGuard struct {
	r       io.Reader
	big     bool   // section byte order
	pending []byte // header bytes read for checking, not yet passed on
	hdr     [12]byte
	remain  int64 // bytes of the current block still to pass through
	block   int64 // blocks seen
}

const maxNgBlock = maxSnaplen + 4096

func (g *ngGuard) Read(p []byte) (int, error) {
	if len(g.pending) == 0 && g.remain == 0 {
		if err := g.nextBlock(); err != nil {
			return 0, err
		}
	}
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	if int64(len(p)) > g.remain {
		p = p[:g.remain]
	}
	n, err := g.r.Read(p)
	g.remain -= int64(n)
	if err == io.EOF && g.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (g *ngGuard) nextBlock() error {
	if _, err := io.ReadFull(g.r, g.hdr[:8]); err != nil {
		return err // io.EOF at a block boundary is a clean end
	}
	n := 8
	typ := binary.LittleEndian.Uint32(g.hdr[0:4])
	if typ == pcapngMagic { // section header: byte order follows
		if _, err := io.ReadFull(g.r, g.hdr[8:12]); err != nil {
			return io.ErrUnexpectedEOF
		}
		n = 12
		switch {
		case binary.BigEndian.Uint32(g.hdr[8:12]) == 0x1a2b3c4d:
			g.big = true
		case binary.LittleEndian.Uint32(g.hdr[8:12]) == 0x1a2b3c4d:
			g.big = false
		default:
			return fmt.Errorf("pcapng: bad byte-order magic in section header")
		}
	}
	var length uint32
	if g.big {
		length = binary.BigEndian.Uint32(g.hdr[4:8])
	} else {
		length = binary.LittleEndian.Uint32(g.hdr[4:8])
	}
	g.block++
	if length < 12 || length%4 != 0 || length > maxNgBlock {
		return fmt.Errorf("pcapng block %d: bad length %d", g.block, length)
	}
	g.pending = g.hdr[:n]
	g.remain = int64(length) - int64(n)
	return nil
}
