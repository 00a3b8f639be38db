package export

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// fileWriter is the buffered writer a table is streamed into: it counts
// the bytes and hashes them on their way to the file.
type fileWriter struct {
	buf   *bufio.Writer
	sum   hash.Hash
	bytes int64
}

func newFileWriter(f io.Writer) *fileWriter {
	fw := &fileWriter{sum: sha256.New()}
	fw.buf = bufio.NewWriterSize(io.MultiWriter(f, fw.sum), 256<<10)
	return fw
}

// Write implements io.Writer.
func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	w.bytes += int64(n)
	return n, err
}

// finish flushes the buffer and returns the size and SHA-256 (hex) of
// everything written.
func (w *fileWriter) finish() (int64, string, error) {
	if err := w.buf.Flush(); err != nil {
		return 0, "", err
	}
	return w.bytes, hex.EncodeToString(w.sum.Sum(nil)), nil
}
