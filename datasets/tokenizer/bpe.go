package tokenizer

import (
	"sync"
	"unicode/utf8"
)

// bpeModel is the "BPE" model of tokenizer.json files: a word (one pre-tokenized piece) is
// split into characters, which are merged pairwise, always applying the merge of lowest rank
// first (leftmost first among equal ranks), until no merge applies.
type bpeModel struct {
	vocab  map[string]int
	merges map[uint64]bpeMerge // key: left id << 32 | right id

	unkID        int // -1: no unknown token
	fuseUnk      bool
	byteFallback bool
	byteIDs      [256]int // ids of "<0x00>".."<0xFF>", -1 when absent
	prefix       string   // continuing_subword_prefix
	suffix       string   // end_of_word_suffix
	ignoreMerges bool

	cache bpeCache
}

type bpeMerge struct {
	rank, newID int32
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// bpeCache remembers the ids of recently seen words.
type bpeCache struct {
	mu sync.RWMutex
	m  map[string][]int
}

const (
	bpeCacheEntries  = 20000
	bpeCacheMaxBytes = 256
)

func (c *bpeCache) get(w string) ([]int, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *bpeCache) put(w string, ids []int) {
	if len(w) >= bpeCacheMaxBytes {
		return
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string][]int)
	}
	if len(c.m) < bpeCacheEntries {
		c.m[w] = ids
	}
	c.mu.Unlock()
}

type bpeSymbol struct {
	id         int32
	prev, next int32
	size       int32 // bytes of the word covered; 0 once merged into its left neighbour
}

type bpeCandidate struct {
	rank, pos, newID int32
}

// less orders candidates: lowest rank first, then leftmost.
func (a bpeCandidate) less(b bpeCandidate) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

type bpeHeap []bpeCandidate

func (h *bpeHeap) push(c bpeCandidate) {
	*h = append(*h, c)
	s := *h
	i := len(s) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !s[i].less(s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *bpeHeap) pop() bpeCandidate {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && s[r].less(s[l]) {
			m = r
		}
		if !s[m].less(s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// tokenize appends the ids of word to out.
func (m *bpeModel) tokenize(word string, out []int) []int {
	if word == "" {
		return out
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(out, id)
		}
	}
	if ids, ok := m.cache.get(word); ok {
		return append(out, ids...)
	}
	ids := m.mergeWord(word)
	m.cache.put(word, ids)
	return append(out, ids...)
}

func (m *bpeModel) mergeWord(w string) []int {
	syms := make([]bpeSymbol, 0, len(w))
	add := func(id, size int) {
		n := int32(len(syms))
		syms = append(syms, bpeSymbol{id: int32(id), prev: n - 1, next: n + 1, size: int32(size)})
	}
	unkID, unkSize := -1, 0
	var buf []byte
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		first, last := i == 0, i+size == len(w)
		buf = buf[:0]
		if !first {
			buf = append(buf, m.prefix...)
		}
		buf = append(buf, w[i:i+size]...)
		if last {
			buf = append(buf, m.suffix...)
		}
		i += size
		if id, ok := m.vocab[string(buf)]; ok {
			if unkID >= 0 {
				add(unkID, unkSize)
				unkID = -1
			}
			add(id, size)
			continue
		}
		if m.byteFallback {
			all := true
			for _, b := range buf {
				if m.byteIDs[b] < 0 {
					all = false
					break
				}
			}
			if all {
				// The byte tokens are added without flushing a pending unknown token, as the
				// tokenizers library does.
				for _, b := range buf {
					add(m.byteIDs[b], 1)
				}
				continue
			}
		}
		if m.unkID >= 0 {
			switch {
			case unkID >= 0 && m.fuseUnk:
				unkSize += size
			case unkID >= 0:
				add(unkID, unkSize)
				unkID, unkSize = m.unkID, size
			default:
				unkID, unkSize = m.unkID, size
			}
		}
		// Without an unknown token the character is dropped, as the tokenizers library does.
	}
	if unkID >= 0 {
		add(unkID, unkSize)
	}
	if len(syms) == 0 {
		return nil
	}
	syms[len(syms)-1].next = -1

	var heap bpeHeap
	for i := 0; i+1 < len(syms); i++ {
		if mg, ok := m.merges[pairKey(int(syms[i].id), int(syms[i+1].id))]; ok {
			heap.push(bpeCandidate{rank: mg.rank, pos: int32(i), newID: mg.newID})
		}
	}
	for len(heap) > 0 {
		top := heap.pop()
		cur := &syms[top.pos]
		if cur.size == 0 || cur.next < 0 {
			continue
		}
		right := syms[cur.next]
		if mg, ok := m.merges[pairKey(int(cur.id), int(right.id))]; !ok || mg.newID != top.newID {
			continue // stale candidate
		}
		cur.id = top.newID
		cur.size += right.size
		syms[cur.next].size = 0
		cur.next = right.next
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			prev := syms[cur.prev]
			if mg, ok := m.merges[pairKey(int(prev.id), int(cur.id))]; ok {
				heap.push(bpeCandidate{rank: mg.rank, pos: cur.prev, newID: mg.newID})
			}
		}
		if cur.next >= 0 {
			next := syms[cur.next]
			if mg, ok := m.merges[pairKey(int(cur.id), int(next.id))]; ok {
				heap.push(bpeCandidate{rank: mg.rank, pos: top.pos, newID: mg.newID})
			}
		}
	}
	ids := make([]int, 0, len(syms))
	for i := 0; i >= 0 && i < len(syms); i = int(syms[i].next) {
		ids = append(ids, int(syms[i].id))
	}
	return ids
}
