package history

import (
	"os"
	"testing"
	"time"
)

func TestTruncScratch(t *testing.T) {
	for _, frac := range []int{2, 3, 4, 8} {
		db := tempDB(t)
		for range 20 {
			record(t, db, Meta{Command: "apply"}, applyEvents(time.Now(), "ns", "a", 200), nil)
		}
		fi, _ := os.Stat(db.Path())
		os.Truncate(db.Path(), fi.Size()/int64(frac))
		_, err := Open(db.Path())
		t.Logf("size %d/%d open: %v", fi.Size(), frac, err)
		if err == nil {
			runs, err := db.List(Filter{})
			t.Logf("list: %d %v", len(runs), err)
			for _, r := range runs {
				if _, err := db.Get(r.ID); err != nil {
					t.Logf("get: %v", err)
					break
				}
			}
			err = db.Put(&Run{ID: "zzz"})
			t.Logf("put: %v", err)
		}
	}
	// garbage in the middle
	db := tempDB(t)
	for range 20 {
		record(t, db, Meta{Command: "apply"}, applyEvents(time.Now(), "ns", "a", 200), nil)
	}
	f, _ := os.OpenFile(db.Path(), os.O_RDWR, 0)
	junk := make([]byte, 4096*4)
	for i := range junk { junk[i] = 0xAB }
	f.WriteAt(junk, 4096*3)
	f.Close()
	_, err := Open(db.Path())
	t.Logf("junk open: %v", err)
	runs, err := db.List(Filter{})
	t.Logf("junk list: %d %v", len(runs), err)
	err = db.Put(&Run{ID: "zzz"})
	t.Logf("junk put: %v", err)
}
