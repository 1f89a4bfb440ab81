package history

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// crockford is Crockford's base32 alphabet in lower case; its letters are
// in ASCII order, so ids compare as their times do.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a run id for a run starting at t: 10 characters of
// milliseconds since 1970 and 6 random ones (30 bits), as in a ULID, so
// ids sort by start time and two processes starting in the same
// millisecond still differ.
func NewID(t time.Time) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:]) // never fails (crypto/rand)
	return formatID(uint64(t.UnixMilli()), binary.BigEndian.Uint32(rnd[:])>>2)
}

func formatID(ms uint64, random uint32) string {
	var b [16]byte
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	for i := 15; i >= 10; i-- {
		b[i] = crockford[random&31]
		random >>= 5
	}
	return string(b[:])
}
