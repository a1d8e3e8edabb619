package passive

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
)

// gzipMagic starts every gzip member (RFC 1952).
var gzipMagic = []byte{0x1f, 0x8b}

// maybeGunzip returns a buffered reader over r's content, transparently
// decompressing it when it starts with the gzip magic bytes. gzipped reports
// whether it did. A gzip stream that ends early surfaces later as a read
// error (io.ErrUnexpectedEOF) from the returned reader.
func maybeGunzip(r io.Reader) (br *bufio.Reader, gzipped bool, err error) {
	br = bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, false, err
	}
	if len(magic) == 2 && magic[0] == gzipMagic[0] && magic[1] == gzipMagic[1] {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, true, fmt.Errorf("gzip header: %w", err)
		}
		return bufio.NewReaderSize(zr, 64<<10), true, nil
	}
	return br, false, nil
}
