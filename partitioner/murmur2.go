package partitioner

// Murmur2 is Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils),
// bit for bit: seed 0x9747b28c, little-endian 4-byte blocks, and the
// tail mixed before the final avalanche.
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	blocks := length / 4
	for i := range blocks {
		j := i * 4
		k := uint32(data[j]) | uint32(data[j+1])<<8 | uint32(data[j+2])<<16 | uint32(data[j+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[blocks*4:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// ForKey returns the partition of a non-empty key among n partitions:
// Kafka's toPositive(murmur2(key)) % n.
func ForKey(key []byte, n int32) int32 {
	return (Murmur2(key) & 0x7fffffff) % n
}
