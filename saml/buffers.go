package saml

import (
	"bytes"
	"compress/flate"
	"io"
	"sync"

	"github.com/beevik/etree"

	"github.com/eidsp/eidsp/internal/xmlout"
)

// Buffers reused across messages. A login writes and reads several messages of a few to a dozen
// kilobytes; growing a fresh buffer for each allocated about three times the message, and the
// garbage collector's share of a login grew with it.

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps one exceptional message from pinning its buffer in the pool.
const maxPooledBuffer = 256 << 10

func getBuffer() *bytes.Buffer {
	b := buffers.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		buffers.Put(b)
	}
}

// Marshal serializes el (without an XML declaration) into a slice of exactly its length.
func Marshal(el *etree.Element) []byte {
	b := getBuffer()
	defer putBuffer(b)
	xmlout.Write(b, el)
	return bytes.Clone(b.Bytes())
}

// ReadAll reads r to its end but no further than limit+1 bytes, so that the caller can tell a
// body over the limit. announced is the length the sender declared (a Content-Length; 0 or less
// for none): within the limit it sizes the buffer, so that a body of the declared length costs
// one allocation; a sender that lies about it only makes the buffer grow.
func ReadAll(r io.Reader, announced, limit int64) ([]byte, error) {
	// Without a length (a chunked answer) the first guess is a typical ArtifactResponse.
	size := min(int64(16<<10), limit)
	if announced > 0 {
		size = min(announced, limit)
	}
	b := make([]byte, 0, size+1) // +1: the read that finds the end needs room to try
	r = io.LimitReader(r, limit+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// flateReaders recycles decompressors (flate.NewReader allocates a 32 KB window).
var flateReaders sync.Pool

func newFlateReader(src io.Reader) io.ReadCloser {
	if r, ok := flateReaders.Get().(io.ReadCloser); ok {
		if r.(flate.Resetter).Reset(src, nil) == nil {
			return r
		}
	}
	return flate.NewReader(src)
}

func putFlateReader(r io.ReadCloser) {
	r.Close()
	flateReaders.Put(r)
}
