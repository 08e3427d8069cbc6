package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file reads SentencePiece tokenizer.model files (a ModelProto protobuf) and encodes and
// decodes text the way the sentencepiece library does, for BPE and unigram models.

// Piece types of ModelProto.SentencePiece.Type.
const (
	spNormal      = 1
	spUnknown     = 2
	spControl     = 3
	spUserDefined = 4
	spUnused      = 5
	spByte        = 6
)

// Model types of TrainerSpec.ModelType.
const (
	spModelUnigram = 1
	spModelBPE     = 2
	spModelWord    = 3
	spModelChar    = 4
)

const spaceSymbol = "▁"

type spPiece struct {
	piece string
	score float32
	typ   int
}

type spModel struct {
	pieces    []spPiece
	modelType int

	normal   map[string]int // NORMAL, USER_DEFINED and UNUSED pieces
	reserved map[string]int // CONTROL, UNKNOWN and BYTE pieces
	unkID    int
	byteIDs  [256]int

	userDefined    map[string]bool
	maxUserDefLen  int
	maxPieceLen    int
	byteFallback   bool
	bosID, eosID   int
	unkSurface     string
	minScore       float32
	maxScore       float32
	addDummyPrefix bool
	removeExtraWS  bool
	escapeWS       bool
	charsmap       *charsmap
	normalizerName string
}

// parseSentencePiece reads a serialized ModelProto.
func parseSentencePiece(data []byte) (*spModel, error) {
	m := &spModel{
		modelType:      spModelUnigram,
		normal:         map[string]int{},
		reserved:       map[string]int{},
		userDefined:    map[string]bool{},
		unkID:          -1,
		bosID:          1,
		eosID:          2,
		unkSurface:     " \u2047 ",
		addDummyPrefix: true,
		removeExtraWS:  true,
		escapeWS:       true,
	}
	var trainerSpec, normSpec []byte
	sawTrainer, sawNorm := false, false
	err := walkProto(data, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			p, err := parseSPPiece(v)
			if err != nil {
				return fmt.Errorf("piece #%d: %w", len(m.pieces), err)
			}
			m.pieces = append(m.pieces, p)
		case num == 2 && typ == protowire.BytesType:
			trainerSpec, sawTrainer = append(trainerSpec, v...), true
		case num == 3 && typ == protowire.BytesType:
			normSpec, sawNorm = append(normSpec, v...), true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tokenizer.model: not a SentencePiece model: %w", err)
	}
	if len(m.pieces) == 0 {
		return nil, fmt.Errorf("tokenizer.model: not a SentencePiece model: no pieces")
	}
	if len(m.pieces) >= maxTokenID {
		return nil, fmt.Errorf("tokenizer.model: too many pieces (%d)", len(m.pieces))
	}
	if sawTrainer {
		err := walkProto(trainerSpec, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
			switch {
			case num == 3 && typ == protowire.VarintType:
				m.modelType = int(int32(x))
			case num == 35 && typ == protowire.VarintType:
				m.byteFallback = x != 0
			case num == 24 && typ == protowire.VarintType && x != 0:
				return fmt.Errorf("treat_whitespace_as_suffix is not supported")
			case num == 41 && typ == protowire.VarintType:
				m.bosID = int(int32(x))
			case num == 42 && typ == protowire.VarintType:
				m.eosID = int(int32(x))
			case num == 44 && typ == protowire.BytesType:
				m.unkSurface = string(v)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("tokenizer.model: trainer spec: %w", err)
		}
	}
	if sawNorm {
		var charsmapBlob []byte
		err := walkProto(normSpec, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
			switch {
			case num == 1 && typ == protowire.BytesType:
				m.normalizerName = string(v)
			case num == 2 && typ == protowire.BytesType:
				charsmapBlob = v
			case num == 3 && typ == protowire.VarintType:
				m.addDummyPrefix = x != 0
			case num == 4 && typ == protowire.VarintType:
				m.removeExtraWS = x != 0
			case num == 5 && typ == protowire.VarintType:
				m.escapeWS = x != 0
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("tokenizer.model: normalizer spec: %w", err)
		}
		if len(charsmapBlob) > 0 {
			if m.charsmap, err = parseCharsmap(charsmapBlob); err != nil {
				return nil, fmt.Errorf("tokenizer.model: normalizer %q: %w", m.normalizerName, err)
			}
		}
	}
	switch m.modelType {
	case spModelBPE, spModelUnigram:
	case spModelWord:
		return nil, fmt.Errorf("tokenizer.model: model type WORD is not supported")
	case spModelChar:
		return nil, fmt.Errorf("tokenizer.model: model type CHAR is not supported")
	default:
		return nil, fmt.Errorf("tokenizer.model: unknown model type %d", m.modelType)
	}

	for b := range m.byteIDs {
		m.byteIDs[b] = -1
	}
	m.minScore = math.MaxFloat32
	m.maxScore = math.SmallestNonzeroFloat32 * (1 << 23) // FLT_MIN, the smallest normal float32
	for i, p := range m.pieces {
		if p.piece == "" {
			return nil, fmt.Errorf("tokenizer.model: piece %d is empty", i)
		}
		target := m.reserved
		switch p.typ {
		case spNormal, spUserDefined, spUnused:
			target = m.normal
		case spUnknown, spControl, spByte:
		default:
			return nil, fmt.Errorf("tokenizer.model: piece %d (%q) has unknown type %d", i, p.piece, p.typ)
		}
		if _, dup := target[p.piece]; dup {
			return nil, fmt.Errorf("tokenizer.model: piece %q is defined twice", p.piece)
		}
		target[p.piece] = i
		m.maxPieceLen = max(m.maxPieceLen, len(p.piece))
		switch p.typ {
		case spNormal:
			m.minScore = min(m.minScore, p.score)
			m.maxScore = max(m.maxScore, p.score)
		case spUserDefined:
			m.userDefined[p.piece] = true
			m.maxUserDefLen = max(m.maxUserDefLen, len(p.piece))
		case spUnknown:
			if m.unkID >= 0 {
				return nil, fmt.Errorf("tokenizer.model: more than one unknown piece (%d and %d)", m.unkID, i)
			}
			m.unkID = i
		case spByte:
			if !m.byteFallback {
				return nil, fmt.Errorf("tokenizer.model: byte piece %q found although byte_fallback is off", p.piece)
			}
			b, ok := parseByteToken(p.piece)
			if !ok {
				return nil, fmt.Errorf("tokenizer.model: invalid byte piece %q", p.piece)
			}
			m.byteIDs[b] = i
		}
	}
	if m.unkID < 0 {
		return nil, fmt.Errorf("tokenizer.model: no unknown piece")
	}
	if m.byteFallback {
		for b, id := range m.byteIDs {
			if id < 0 {
				return nil, fmt.Errorf("tokenizer.model: byte_fallback is on but byte piece <0x%02X> is missing", b)
			}
		}
	}
	if m.bosID >= len(m.pieces) || (m.bosID >= 0 && m.pieces[m.bosID].typ != spControl) {
		m.bosID = -1
	}
	if m.eosID >= len(m.pieces) || (m.eosID >= 0 && m.pieces[m.eosID].typ != spControl) {
		m.eosID = -1
	}
	return m, nil
}

// walkProto calls fn for every field of a protobuf message. For varint fields x holds the
// value; for length-delimited fields v holds the bytes.
func walkProto(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.Fixed32Type:
			var f uint32
			f, n = protowire.ConsumeFixed32(b)
			x = uint64(f)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("bad value of field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func parseSPPiece(b []byte) (spPiece, error) {
	p := spPiece{typ: spNormal}
	err := walkProto(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			p.piece = string(v)
		case num == 2 && typ == protowire.Fixed32Type:
			p.score = math.Float32frombits(uint32(x))
		case num == 3 && typ == protowire.VarintType:
			p.typ = int(int32(x))
		}
		return nil
	})
	return p, err
}

// charsmap is a SentencePiece precompiled normalization map: a double-array trie over UTF-8
// byte strings whose values index NUL-terminated replacement strings.
type charsmap struct {
	trie       []uint32
	normalized []byte
}

func parseCharsmap(blob []byte) (*charsmap, error) {
	if len(blob) < 4 {
		return nil, fmt.Errorf("precompiled charsmap too short")
	}
	size := uint64(binary.LittleEndian.Uint32(blob))
	if size+4 > uint64(len(blob)) || size%4 != 0 {
		return nil, fmt.Errorf("precompiled charsmap: bad trie size %d", size)
	}
	c := &charsmap{trie: make([]uint32, size/4), normalized: blob[4+size:]}
	for i := range c.trie {
		c.trie[i] = binary.LittleEndian.Uint32(blob[4+4*i:])
	}
	return c, nil
}

// longestPrefix returns the replacement for the longest key that is a prefix of s.
func (c *charsmap) longestPrefix(s string) (repl string, length int, ok bool) {
	if len(c.trie) == 0 {
		return "", 0, false
	}
	offset := func(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }
	id := offset(c.trie[0])
	for i := 0; i < len(s); i++ {
		ch := uint32(s[i])
		id ^= ch
		if uint64(id) >= uint64(len(c.trie)) {
			break
		}
		unit := c.trie[id]
		if unit&((1<<31)|0xFF) != ch {
			break
		}
		id ^= offset(unit)
		if uint64(id) >= uint64(len(c.trie)) {
			break
		}
		if (unit>>8)&1 == 1 {
			value := int(c.trie[id] & (1<<31 - 1))
			if value < len(c.normalized) {
				end := value
				for end < len(c.normalized) && c.normalized[end] != 0 {
					end++
				}
				repl, length, ok = string(c.normalized[value:end]), i+1, true
			}
		}
	}
	return repl, length, ok
}

// oneCharLen is the length of the UTF-8 sequence announced by the first byte of s (at most
// len(s)), as sentencepiece computes it.
func oneCharLen(s string) int {
	n := [16]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}[s[0]>>4]
	return min(n, len(s))
}

// matchUserDefined returns the length of the longest user-defined piece that starts s.
func (m *spModel) matchUserDefined(s string) int {
	if len(m.userDefined) == 0 {
		return 0
	}
	for n := min(len(s), m.maxUserDefLen); n > 0; n-- {
		if m.userDefined[s[:n]] {
			return n
		}
	}
	return 0
}

// normalizePrefix normalizes the start of s: it returns the replacement text and how many
// bytes of s it consumes.
func (m *spModel) normalizePrefix(s string) (string, int) {
	if n := m.matchUserDefined(s); n > 0 {
		return s[:n], n
	}
	if m.charsmap != nil {
		if repl, n, ok := m.charsmap.longestPrefix(s); ok && n > 0 {
			return repl, n
		}
	}
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return "\uFFFD", 1
	}
	return s[:n], n
}

// normalize runs sentencepiece's normalizer: character map, whitespace handling, "▁" for
// spaces and the dummy prefix.
func (m *spModel) normalize(s string) string {
	if s == "" {
		return ""
	}
	if m.removeExtraWS {
		for s != "" {
			r, n := m.normalizePrefix(s)
			if r != " " {
				break
			}
			s = s[n:]
		}
		if s == "" {
			return ""
		}
	}
	var sb strings.Builder
	sb.Grow(len(s) + 3)
	if m.addDummyPrefix {
		if m.escapeWS {
			sb.WriteString(spaceSymbol)
		} else {
			sb.WriteByte(' ')
		}
	}
	prevSpace := m.removeExtraWS
	for s != "" {
		r, n := m.normalizePrefix(s)
		for prevSpace && strings.HasPrefix(r, " ") {
			r = r[1:]
		}
		if r != "" {
			if m.escapeWS {
				sb.WriteString(strings.ReplaceAll(r, " ", spaceSymbol))
			} else {
				sb.WriteString(r)
			}
			prevSpace = strings.HasSuffix(r, " ")
		}
		s = s[n:]
		if !m.removeExtraWS {
			prevSpace = false
		}
	}
	out := sb.String()
	if m.removeExtraWS {
		space := " "
		if m.escapeWS {
			space = spaceSymbol
		}
		for strings.HasSuffix(out, space) {
			out = out[:len(out)-len(space)]
		}
	}
	return out
}

// pieceToID follows sentencepiece: reserved pieces, then normal pieces, else unknown.
func (m *spModel) pieceToID(p string) int {
	if id, ok := m.reserved[p]; ok {
		return id
	}
	if id, ok := m.normal[p]; ok {
		return id
	}
	return m.unkID
}

type spResult struct {
	piece string
	id    int
}

// encode tokenizes text and appends the ids to out.
func (m *spModel) encode(text string, out []int) []int {
	normalized := m.normalize(text)
	if normalized == "" {
		return out
	}
	var res []spResult
	if m.modelType == spModelBPE {
		res = m.encodeBPE(normalized)
	} else {
		res = m.encodeUnigram(normalized)
	}
	prevUnk := false
	for _, r := range res {
		isUnk := r.id == m.unkID
		switch {
		case isUnk && m.byteFallback:
			for i := 0; i < len(r.piece); i++ {
				out = append(out, m.byteIDs[r.piece[i]])
			}
		case isUnk && prevUnk:
			// Runs of unknown pieces become one unknown token.
		default:
			out = append(out, r.id)
		}
		prevUnk = isUnk
	}
	return out
}

type spSymbol struct {
	prev, next int
	freeze     bool
	start, end int // byte range in the normalized text; start == end once merged away
}

type spPair struct {
	left, right int
	score       float32
	size        int
}

type spAgenda []spPair

// before orders the agenda: highest score first, then leftmost.
func (a spPair) before(b spPair) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

func (h *spAgenda) push(p spPair) {
	*h = append(*h, p)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s[i].before(s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *spAgenda) pop() spPair {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		c := l
		if r := l + 1; r < len(s) && s[r].before(s[l]) {
			c = r
		}
		if !s[c].before(s[i]) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

func (m *spModel) encodeBPE(text string) []spResult {
	syms := make([]spSymbol, 0, utf8.RuneCountInString(text))
	for pos := 0; pos < len(text); {
		n := m.matchUserDefined(text[pos:])
		freeze := n > 0
		if !freeze {
			n = oneCharLen(text[pos:])
		}
		idx := len(syms)
		syms = append(syms, spSymbol{prev: idx - 1, next: idx + 1, freeze: freeze, start: pos, end: pos + n})
		pos += n
	}
	if len(syms) == 0 {
		return nil
	}
	syms[len(syms)-1].next = -1

	agenda := make(spAgenda, 0, len(syms))
	revMerge := map[string][2]string{}
	maybeAdd := func(left, right int) {
		if left < 0 || right < 0 || syms[left].freeze || syms[right].freeze {
			return
		}
		p := text[syms[left].start:syms[right].end]
		id, ok := m.normal[p]
		if !ok {
			return
		}
		agenda.push(spPair{left: left, right: right, score: m.pieces[id].score, size: len(p)})
		if m.pieces[id].typ == spUnused {
			revMerge[p] = [2]string{text[syms[left].start:syms[left].end], text[syms[right].start:syms[right].end]}
		}
	}
	for i := 1; i < len(syms); i++ {
		maybeAdd(i-1, i)
	}
	for len(agenda) > 0 {
		top := agenda.pop()
		l, r := &syms[top.left], &syms[top.right]
		if l.start == l.end || r.start == r.end || (l.end-l.start)+(r.end-r.start) != top.size {
			continue
		}
		l.end = r.end
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = top.left
		}
		r.end = r.start
		maybeAdd(l.prev, top.left)
		maybeAdd(top.left, l.next)
	}

	out := make([]spResult, 0, len(syms)/2+1)
	var resegment func(w string, depth int)
	resegment = func(w string, depth int) {
		id := m.pieceToID(w)
		if id < 0 || m.pieces[id].typ != spUnused || depth > 64 {
			out = append(out, spResult{w, id})
			return
		}
		p, ok := revMerge[w]
		if !ok {
			out = append(out, spResult{w, id})
			return
		}
		resegment(p[0], depth+1)
		resegment(p[1], depth+1)
	}
	for i := 0; i >= 0; i = syms[i].next {
		resegment(text[syms[i].start:syms[i].end], 0)
	}
	return out
}

const spUnkPenalty = 10.0

func (m *spModel) encodeUnigram(text string) []spResult {
	type node struct {
		id       int
		score    float32
		startsAt int
	}
	size := len(text)
	best := make([]node, size+1)
	for i := range best {
		best[i].startsAt = -1
	}
	unkScore := m.minScore - spUnkPenalty
	for start := 0; start < size; {
		tillHere := best[start].score
		mblen := oneCharLen(text[start:])
		hasSingle := false
		for end := start + 1; end <= size && end-start <= m.maxPieceLen; end++ {
			id, ok := m.normal[text[start:end]]
			if !ok || m.pieces[id].typ == spUnused {
				continue
			}
			length := end - start
			// Scores are added in float32: that reproduces sentencepiece's choices between
			// paths whose scores are equal up to rounding.
			score := m.pieces[id].score
			if m.pieces[id].typ == spUserDefined {
				score = float32(float64(float32(length)*m.maxScore) - 0.1)
			}
			cand := score + tillHere
			t := &best[end]
			if t.startsAt == -1 || cand > t.score {
				t.score, t.startsAt, t.id = cand, start, id
			}
			if length == mblen {
				hasSingle = true
			}
		}
		if !hasSingle {
			t := &best[start+mblen]
			cand := unkScore + tillHere
			if t.startsAt == -1 || cand > t.score {
				t.score, t.startsAt, t.id = cand, start, m.unkID
			}
		}
		start += mblen
	}
	var out []spResult
	for end := size; end > 0; {
		n := best[end]
		out = append(out, spResult{text[n.startsAt:end], n.id})
		end = n.startsAt
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// decode follows sentencepiece's decoder; control pieces (e.g. "<s>") are written as their
// text where sentencepiece drops them, without affecting the rest of the output.
func (m *spModel) decode(ids []int) string {
	var sb strings.Builder
	var bytesRun []byte
	textEmpty := true // no text other than control pieces written yet
	flush := func() {
		for i := 0; i < len(bytesRun); {
			r, n := utf8.DecodeRune(bytesRun[i:])
			if r == utf8.RuneError && n <= 1 {
				sb.WriteString("\uFFFD")
				i++
			} else {
				sb.Write(bytesRun[i : i+n])
				i += n
			}
			textEmpty = false
		}
		bytesRun = bytesRun[:0]
	}
	isBosWS, bosWSSeen := true, false
	for _, id := range ids {
		p := m.pieces[id]
		if p.typ == spByte {
			b, _ := parseByteToken(p.piece)
			bytesRun = append(bytesRun, b)
			continue
		}
		flush()
		if bosWSSeen || !textEmpty {
			isBosWS = false
		}
		bosWSSeen = false
		var s string
		switch p.typ {
		case spControl:
			sb.WriteString(p.piece)
			continue
		case spUnknown:
			s = m.unkSurface
		default:
			s = p.piece
			if isBosWS && (m.addDummyPrefix || m.removeExtraWS) {
				if strings.HasPrefix(s, spaceSymbol) {
					s = s[len(spaceSymbol):]
					bosWSSeen = !m.removeExtraWS
				}
			}
			s = strings.ReplaceAll(s, spaceSymbol, " ")
		}
		if s != "" {
			textEmpty = false
		}
		sb.WriteString(s)
	}
	flush()
	return sb.String()
}

// label renders a piece for display.
func (m *spModel) label(id int) string {
	p := m.pieces[id]
	switch p.typ {
	case spByte:
		if b, ok := parseByteToken(p.piece); ok && b < utf8.RuneSelf {
			return string(rune(b))
		}
		return p.piece
	case spNormal, spUnused:
		return strings.ReplaceAll(p.piece, spaceSymbol, " ")
	}
	return p.piece
}
