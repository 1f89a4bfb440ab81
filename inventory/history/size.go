package history

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// checkSize refuses a bbolt file shorter than its newest valid meta page
// says: reading a page of the mapped file past its end faults, and bbolt
// reads such pages also in goroutines of its own (tx.Check), where no
// recover reaches. Files without a valid meta page are left to bbolt.Open,
// which rejects them.
func checkSize(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt.Open reports it
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	m0, ok0 := readMeta(f, 0)
	pageSize := int64(4096)
	if ok0 {
		pageSize = int64(m0.pageSize)
	}
	m1, ok1 := readMeta(f, pageSize)
	m := m0
	switch {
	case ok1 && (!ok0 || m1.txid > m0.txid):
		m = m1
	case !ok0:
		return nil
	}
	if need := int64(m.pgid) * int64(m.pageSize); fi.Size() < need {
		return fmt.Errorf("the file is cut off: %d bytes, its pages need %d", fi.Size(), need)
	}
	return nil
}

type metaPage struct {
	pageSize   uint32
	pgid, txid uint64
}

// bbolt's meta page: a 16-byte page header, then magic, version,
// pageSize, flags (uint32), root bucket (2 x uint64), freelist, pgid, txid
// and an FNV-64a checksum of the fields before it (uint64), in the
// machine's byte order.
const (
	pageHeaderSize = 16
	metaSize       = 64
	boltMagic      = 0xED0CDAED
)

func readMeta(r io.ReaderAt, off int64) (metaPage, bool) {
	var b [pageHeaderSize + metaSize]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return metaPage{}, false
	}
	m := b[pageHeaderSize:]
	e := binary.NativeEndian
	if e.Uint32(m[0:]) != boltMagic {
		return metaPage{}, false
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != e.Uint64(m[56:]) {
		return metaPage{}, false
	}
	mp := metaPage{pageSize: e.Uint32(m[8:]), pgid: e.Uint64(m[40:]), txid: e.Uint64(m[48:])}
	return mp, mp.pageSize >= 512
}
