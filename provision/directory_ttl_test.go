package provision

import (
	"strings"
	"testing"
	"time"
)

func TestAnswerTTL(t *testing.T) {
	for _, c := range []struct {
		cache, negative, want time.Duration
		warns                 bool
	}{
		{DefaultDirectoryCacheTTL, DefaultDirectoryNegativeTTL, time.Minute, false},
		{5 * time.Minute, time.Minute, time.Minute, true},
		{time.Minute, 5 * time.Minute, time.Minute, true},
		{time.Hour, time.Hour, time.Hour, false},
		{5 * time.Minute, 0, 0, true},
		{0, 0, 0, false},
	} {
		d := &Directory{Name: "hosting", Source: "c.yaml:2", CacheTTL: c.cache, NegativeTTL: c.negative}
		if got := d.AnswerTTL(); got != c.want {
			t.Errorf("AnswerTTL(cache_ttl %v, negative_ttl %v) = %v, want %v", c.cache, c.negative, got, c.want)
		}
		w := TTLWarning(d)
		if (w != "") != c.warns {
			t.Errorf("TTLWarning(cache_ttl %v, negative_ttl %v) = %q, want a warning: %v", c.cache, c.negative, w, c.warns)
		}
		if w != "" && (!strings.HasPrefix(w, "c.yaml:2: directory hosting: ") || !strings.Contains(w, "both kept "+c.want.String())) {
			t.Errorf("TTLWarning = %q: want the place, the name and the one lifetime", w)
		}
	}
}
