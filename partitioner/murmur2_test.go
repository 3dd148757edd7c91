package partitioner

import "testing"

// The vectors are Kafka's own (UtilsTest.testMurmur2) plus a few that
// other Kafka clients check against the Java implementation.
func TestMurmur2MatchesKafka(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
		{"1", -1993445489},
		{"12", 126087238},
		{"123", -267702483},
		{"1234", -1614185708},
		{"12345", -1188365604},
	} {
		if got := Murmur2([]byte(tc.in)); got != tc.want {
			t.Errorf("Murmur2(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestForKeyIsInRangeAndStable(t *testing.T) {
	// toPositive(-973932308) % 6 computed by hand: 0x7fffffff & -973932308 = 1173551340.
	if got, want := ForKey([]byte("21"), 6), int32(1173551340%6); got != want {
		t.Fatalf("ForKey(21, 6) = %d, want %d", got, want)
	}
	for n := int32(1); n <= 64; n++ {
		for _, k := range []string{"a", "user-17", "order:9"} {
			p := ForKey([]byte(k), n)
			if p < 0 || p >= n {
				t.Fatalf("ForKey(%q, %d) = %d, out of range", k, n, p)
			}
		}
	}
}
