package tokenizer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds a small backtracking regular-expression engine for the pre-tokenizer
// patterns found in tokenizer.json files. Go's regexp package has no lookahead, and the
// GPT-2 / Llama-3 / Qwen patterns rely on `\s+(?!\S)`, so the patterns are run here with
// Perl/Oniguruma leftmost-first semantics instead.
//
// Supported syntax: alternation, concatenation, groups `(...)`, `(?:...)`, `(?i:...)`,
// inline `(?i)`, lookahead `(?=...)` and `(?!...)`, quantifiers `? * + {n} {n,} {n,m} {,m}`
// (greedy or lazy), `.`, character classes with ranges, negation and escapes, `\s \S \d \D
// \w \W`, Unicode properties `\p{L}`, `\pN`, `\P{..}`, `\p{^..}` (general categories and
// scripts), the character escapes `\n \r \t \f \v \a \e \xHH \x{H..} \uHHHH`, and the
// anchors `^ $` (line anchors, as in Oniguruma's default syntax), `\A \z \Z \b \B`.
// Anything else (lookbehind, backreferences, possessive quantifiers, class intersections)
// is rejected with an error naming it.

// reMaxStepsPerByte bounds the work of a search, as a multiple of the input length, so a
// pathological pattern returns an error instead of running for an exponential time. The
// patterns of real tokenizers need a few dozen steps per byte.
const reMaxStepsPerByte = 1024

// charClass is a set of runes.
type charClass struct {
	negate bool
	fold   bool // case-insensitive: a rune matches if any rune of its case-folding orbit does
	ranges []rune
	tables []*unicode.RangeTable
	subs   []*charClass
	ascii  [2]uint64 // precomputed answers for runes below 128
}

func (c *charClass) raw(r rune) bool {
	for i := 0; i+1 < len(c.ranges); i += 2 {
		if r >= c.ranges[i] && r <= c.ranges[i+1] {
			return true
		}
	}
	for _, t := range c.tables {
		if unicode.Is(t, r) {
			return true
		}
	}
	for _, s := range c.subs {
		if s.matches(r) {
			return true
		}
	}
	return false
}

func (c *charClass) slowMatch(r rune) bool {
	m := c.raw(r)
	if !m && c.fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if c.raw(f) {
				m = true
				break
			}
		}
	}
	return m != c.negate
}

func (c *charClass) finish() *charClass {
	for _, s := range c.subs {
		s.finish()
	}
	c.ascii = [2]uint64{}
	for r := rune(0); r < 128; r++ {
		if c.slowMatch(r) {
			c.ascii[r>>6] |= 1 << (r & 63)
		}
	}
	return c
}

func (c *charClass) matches(r rune) bool {
	if r >= 0 && r < 128 {
		return c.ascii[r>>6]&(1<<(r&63)) != 0
	}
	return c.slowMatch(r)
}

// Regex AST.
type reKind uint8

const (
	reClass reKind = iota
	reEmpty
	reConcat
	reAlt
	reRepeat
	reLook
	reAssert
)

// Zero-width assertions.
type assertKind uint8

const (
	assertLineStart       assertKind = iota // ^
	assertLineEnd                           // $
	assertTextStart                         // \A
	assertTextEnd                           // \z
	assertTextEndNewline                    // \Z: end, or before a final newline
	assertWordBoundary                      // \b
	assertNotWordBoundary                   // \B
)

type reNode struct {
	kind     reKind
	cls      *charClass
	subs     []*reNode
	min, max int // repeat bounds; max < 0 means unbounded
	lazy     bool
	negLook  bool
	assert   assertKind
}

type reParser struct {
	src []rune
	pos int
}

func (p *reParser) errorf(format string, args ...any) error {
	return fmt.Errorf("regex %q at offset %d: %s", string(p.src), p.pos, fmt.Sprintf(format, args...))
}

func (p *reParser) more() bool { return p.pos < len(p.src) }
func (p *reParser) peek() rune { return p.src[p.pos] }

// parseAlt parses an alternation until ')' or end of input.
func (p *reParser) parseAlt(fold bool, depth int) (*reNode, error) {
	if depth > 100 {
		return nil, p.errorf("groups nested too deeply")
	}
	var alts []*reNode
	for {
		seq, newFold, err := p.parseConcat(fold, depth)
		if err != nil {
			return nil, err
		}
		fold = newFold
		alts = append(alts, seq)
		if p.more() && p.peek() == '|' {
			p.pos++
			continue
		}
		break
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return &reNode{kind: reAlt, subs: alts}, nil
}

// parseConcat parses a sequence of quantified atoms. An inline flag group `(?i)` changes
// the case folding of the rest of the enclosing group, so the flag is passed back.
func (p *reParser) parseConcat(fold bool, depth int) (*reNode, bool, error) {
	var items []*reNode
	for p.more() {
		c := p.peek()
		if c == '|' || c == ')' {
			break
		}
		if c == '(' && p.pos+2 < len(p.src) && p.src[p.pos+1] == '?' {
			// Inline flags: (?i) or (?-i).
			if end, on, ok := p.inlineFlags(); ok {
				p.pos = end
				fold = on
				continue
			}
		}
		atom, err := p.parseAtom(fold, depth)
		if err != nil {
			return nil, fold, err
		}
		atom, err = p.parseQuantifier(atom)
		if err != nil {
			return nil, fold, err
		}
		items = append(items, atom)
	}
	switch len(items) {
	case 0:
		return &reNode{kind: reEmpty}, fold, nil
	case 1:
		return items[0], fold, nil
	}
	return &reNode{kind: reConcat, subs: items}, fold, nil
}

// inlineFlags recognizes "(?i)" and "(?-i)" at the current position.
func (p *reParser) inlineFlags() (end int, fold bool, ok bool) {
	rest := string(p.src[p.pos:])
	switch {
	case strings.HasPrefix(rest, "(?i)"):
		return p.pos + 4, true, true
	case strings.HasPrefix(rest, "(?-i)"):
		return p.pos + 5, false, true
	}
	return 0, false, false
}

func (p *reParser) parseAtom(fold bool, depth int) (*reNode, error) {
	c := p.peek()
	switch c {
	case '(':
		p.pos++
		kind := reConcat
		negLook := false
		groupFold := fold
		if p.more() && p.peek() == '?' {
			p.pos++
			if !p.more() {
				return nil, p.errorf("unterminated group")
			}
			switch p.peek() {
			case ':':
				p.pos++
			case '=':
				p.pos++
				kind = reLook
			case '!':
				p.pos++
				kind, negLook = reLook, true
			case 'i', '-':
				// (?i:...) or (?-i:...)
				on := p.peek() == 'i'
				if on {
					p.pos++
				} else {
					p.pos++
					if !p.more() || p.peek() != 'i' {
						return nil, p.errorf("unsupported group flags")
					}
					p.pos++
				}
				if !p.more() || p.peek() != ':' {
					return nil, p.errorf("unsupported group flags")
				}
				p.pos++
				groupFold = on
			default:
				return nil, p.errorf("unsupported group construct (?%c", p.peek())
			}
		}
		inner, err := p.parseAlt(groupFold, depth+1)
		if err != nil {
			return nil, err
		}
		if !p.more() || p.peek() != ')' {
			return nil, p.errorf("missing closing parenthesis")
		}
		p.pos++
		if kind == reLook {
			return &reNode{kind: reLook, subs: []*reNode{inner}, negLook: negLook}, nil
		}
		return inner, nil
	case ')':
		return nil, p.errorf("unexpected ')'")
	case '[':
		cls, err := p.parseBracket(fold, depth)
		if err != nil {
			return nil, err
		}
		return &reNode{kind: reClass, cls: cls}, nil
	case '.':
		p.pos++
		return &reNode{kind: reClass, cls: &charClass{negate: true, ranges: []rune{'\n', '\n'}}}, nil
	case '^':
		p.pos++
		return &reNode{kind: reAssert, assert: assertLineStart}, nil
	case '$':
		p.pos++
		return &reNode{kind: reAssert, assert: assertLineEnd}, nil
	case '*', '+', '?':
		return nil, p.errorf("quantifier %q without operand", c)
	case '\\':
		p.pos++
		if p.more() {
			kinds := map[rune]assertKind{'A': assertTextStart, 'z': assertTextEnd, 'Z': assertTextEndNewline,
				'b': assertWordBoundary, 'B': assertNotWordBoundary}
			if k, ok := kinds[p.peek()]; ok {
				p.pos++
				return &reNode{kind: reAssert, assert: k}, nil
			}
		}
		cls, r, err := p.parseEscape(false)
		if err != nil {
			return nil, err
		}
		if cls == nil {
			cls = &charClass{ranges: []rune{r, r}}
		}
		cls.fold = cls.fold || fold
		return &reNode{kind: reClass, cls: cls}, nil
	}
	p.pos++
	return &reNode{kind: reClass, cls: &charClass{ranges: []rune{c, c}, fold: fold}}, nil
}

// parseQuantifier applies any quantifier that follows an atom.
func (p *reParser) parseQuantifier(atom *reNode) (*reNode, error) {
	for p.more() {
		min, max := -1, -1
		start := p.pos
		switch p.peek() {
		case '*':
			min, max = 0, -1
			p.pos++
		case '+':
			min, max = 1, -1
			p.pos++
		case '?':
			min, max = 0, 1
			p.pos++
		case '{':
			lo, hi, end, ok := p.braces()
			if !ok {
				return atom, nil // a literal '{', as in Oniguruma
			}
			min, max = lo, hi
			p.pos = end
		default:
			return atom, nil
		}
		if max >= 0 && max < min {
			return nil, p.errorf("bad repetition bounds {%d,%d}", min, max)
		}
		if min > 1000 || max > 1000 {
			return nil, p.errorf("repetition count too large")
		}
		lazy := false
		if p.more() {
			switch p.peek() {
			case '?':
				lazy = true
				p.pos++
			case '+':
				if p.src[start] != '{' {
					return nil, p.errorf("possessive quantifiers are not supported")
				}
			}
		}
		if atom.kind == reLook || atom.kind == reEmpty || atom.kind == reAssert {
			return nil, p.errorf("quantifier on an empty-width expression")
		}
		if max < 0 && nullable(atom) {
			return nil, p.errorf("unbounded repetition of an expression that can match empty")
		}
		atom = &reNode{kind: reRepeat, subs: []*reNode{atom}, min: min, max: max, lazy: lazy}
	}
	return atom, nil
}

// braces parses "{n}", "{n,}", "{n,m}" or "{,m}" at the current position.
func (p *reParser) braces() (lo, hi, end int, ok bool) {
	i := p.pos + 1
	readNum := func() (int, bool) {
		j := i
		for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
			i++
		}
		if i == j || i-j > 6 {
			return 0, false
		}
		n, _ := strconv.Atoi(string(p.src[j:i]))
		return n, true
	}
	var hasLo bool
	lo, hasLo = readNum()
	if i >= len(p.src) {
		return 0, 0, 0, false
	}
	if p.src[i] == '}' {
		if !hasLo {
			return 0, 0, 0, false
		}
		return lo, lo, i + 1, true
	}
	if p.src[i] != ',' {
		return 0, 0, 0, false
	}
	i++
	hi, hasHi := readNum()
	if i >= len(p.src) || p.src[i] != '}' || (!hasLo && !hasHi) {
		return 0, 0, 0, false
	}
	if !hasHi {
		hi = -1
	}
	return lo, hi, i + 1, true
}

// parseBracket parses a bracket class "[...]"; the current rune is '['.
func (p *reParser) parseBracket(fold bool, depth int) (*charClass, error) {
	if depth > 100 {
		return nil, p.errorf("classes nested too deeply")
	}
	p.pos++
	cls := &charClass{fold: fold}
	if p.more() && p.peek() == '^' {
		cls.negate = true
		p.pos++
	}
	first := true
	for {
		if !p.more() {
			return nil, p.errorf("missing closing ']'")
		}
		c := p.peek()
		if c == ']' && !first {
			p.pos++
			break
		}
		first = false
		if c == '[' {
			sub, err := p.parseBracket(fold, depth+1)
			if err != nil {
				return nil, err
			}
			cls.subs = append(cls.subs, sub)
			continue
		}
		if c == '&' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '&' {
			return nil, p.errorf("class intersection is not supported")
		}
		var lo rune
		if c == '\\' {
			p.pos++
			sub, r, err := p.parseEscape(true)
			if err != nil {
				return nil, err
			}
			if sub != nil {
				if !sub.negate {
					cls.ranges = append(cls.ranges, sub.ranges...)
					cls.tables = append(cls.tables, sub.tables...)
				} else {
					cls.subs = append(cls.subs, sub)
				}
				continue
			}
			lo = r
		} else {
			p.pos++
			lo = c
		}
		// A range "lo-hi" unless '-' is last before ']'.
		if p.pos+1 < len(p.src) && p.peek() == '-' && p.src[p.pos+1] != ']' {
			p.pos++
			var hi rune
			if p.peek() == '\\' {
				p.pos++
				sub, r, err := p.parseEscape(true)
				if err != nil {
					return nil, err
				}
				if sub != nil {
					return nil, p.errorf("bad range end")
				}
				hi = r
			} else if p.peek() == '[' {
				return nil, p.errorf("bad range end")
			} else {
				hi = p.peek()
				p.pos++
			}
			if hi < lo {
				return nil, p.errorf("bad range %q-%q", lo, hi)
			}
			cls.ranges = append(cls.ranges, lo, hi)
			continue
		}
		cls.ranges = append(cls.ranges, lo, lo)
	}
	return cls, nil
}

var (
	tableWord = []*unicode.RangeTable{unicode.L, unicode.M, unicode.Nd, unicode.Pc}
)

// parseEscape parses the escape after a backslash. It returns either a class or a single rune.
func (p *reParser) parseEscape(inClass bool) (*charClass, rune, error) {
	if !p.more() {
		return nil, 0, p.errorf("trailing backslash")
	}
	c := p.peek()
	p.pos++
	switch c {
	case 's':
		return &charClass{tables: []*unicode.RangeTable{unicode.White_Space}}, 0, nil
	case 'S':
		return &charClass{negate: true, tables: []*unicode.RangeTable{unicode.White_Space}}, 0, nil
	case 'd':
		return &charClass{tables: []*unicode.RangeTable{unicode.Nd}}, 0, nil
	case 'D':
		return &charClass{negate: true, tables: []*unicode.RangeTable{unicode.Nd}}, 0, nil
	case 'w':
		return &charClass{tables: tableWord}, 0, nil
	case 'W':
		return &charClass{negate: true, tables: tableWord}, 0, nil
	case 'h':
		return &charClass{ranges: []rune{'0', '9', 'A', 'F', 'a', 'f'}}, 0, nil
	case 'p', 'P':
		neg := c == 'P'
		var name string
		if p.more() && p.peek() == '{' {
			end := p.pos + 1
			for end < len(p.src) && p.src[end] != '}' {
				end++
			}
			if end >= len(p.src) {
				return nil, 0, p.errorf("unterminated \\p{")
			}
			name = string(p.src[p.pos+1 : end])
			p.pos = end + 1
		} else if p.more() {
			name = string(p.peek())
			p.pos++
		}
		if strings.HasPrefix(name, "^") {
			neg = !neg
			name = name[1:]
		}
		t, err := unicodeTable(name)
		if err != nil {
			return nil, 0, p.errorf("%v", err)
		}
		return &charClass{negate: neg, tables: []*unicode.RangeTable{t}}, 0, nil
	case 'n':
		return nil, '\n', nil
	case 'r':
		return nil, '\r', nil
	case 't':
		return nil, '\t', nil
	case 'f':
		return nil, '\f', nil
	case 'v':
		return nil, '\v', nil
	case 'a':
		return nil, '\a', nil
	case 'e':
		return nil, 0x1b, nil
	case '0':
		return nil, 0, nil
	case 'x':
		if p.more() && p.peek() == '{' {
			end := p.pos + 1
			for end < len(p.src) && p.src[end] != '}' {
				end++
			}
			if end >= len(p.src) {
				return nil, 0, p.errorf("unterminated \\x{")
			}
			r, err := parseHexRune(string(p.src[p.pos+1 : end]))
			if err != nil {
				return nil, 0, p.errorf("%v", err)
			}
			p.pos = end + 1
			return nil, r, nil
		}
		return p.fixedHex(2)
	case 'u':
		return p.fixedHex(4)
	case 'b':
		if inClass {
			return nil, '\b', nil
		}
		return nil, 0, p.errorf("misplaced \\b")
	case 'G':
		return nil, 0, p.errorf("anchor \\G is not supported")
	}
	if c >= '1' && c <= '9' || c == 'k' || c == 'g' {
		return nil, 0, p.errorf("backreferences are not supported")
	}
	if unicode.IsLetter(c) || unicode.IsDigit(c) {
		return nil, 0, p.errorf("unknown escape \\%c", c)
	}
	return nil, c, nil
}

func (p *reParser) fixedHex(n int) (*charClass, rune, error) {
	if p.pos+n > len(p.src) {
		return nil, 0, p.errorf("short hex escape")
	}
	r, err := parseHexRune(string(p.src[p.pos : p.pos+n]))
	if err != nil {
		return nil, 0, p.errorf("%v", err)
	}
	p.pos += n
	return nil, r, nil
}

func parseHexRune(s string) (rune, error) {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || v > unicode.MaxRune {
		return 0, fmt.Errorf("bad hex escape %q", s)
	}
	return rune(v), nil
}

var propertyAliases = map[string]string{
	"Letter": "L", "Lowercase_Letter": "Ll", "Uppercase_Letter": "Lu", "Titlecase_Letter": "Lt",
	"Modifier_Letter": "Lm", "Other_Letter": "Lo", "Mark": "M", "Combining_Mark": "M",
	"Nonspacing_Mark": "Mn", "Spacing_Mark": "Mc", "Enclosing_Mark": "Me", "Number": "N",
	"Decimal_Number": "Nd", "Letter_Number": "Nl", "Other_Number": "No", "Punctuation": "P",
	"Symbol": "S", "Separator": "Z", "Other": "C", "Control": "Cc", "Format": "Cf",
	"Space_Separator": "Zs", "Connector_Punctuation": "Pc", "Dash_Punctuation": "Pd",
	"Open_Punctuation": "Ps", "Close_Punctuation": "Pe", "Initial_Punctuation": "Pi",
	"Final_Punctuation": "Pf", "Other_Punctuation": "Po", "Math_Symbol": "Sm",
	"Currency_Symbol": "Sc", "Modifier_Symbol": "Sk", "Other_Symbol": "So",
}

func unicodeTable(name string) (*unicode.RangeTable, error) {
	if a, ok := propertyAliases[name]; ok {
		name = a
	}
	if t, ok := unicode.Categories[name]; ok {
		return t, nil
	}
	if t, ok := unicode.Scripts[name]; ok {
		return t, nil
	}
	switch name {
	case "White_Space", "Space", "space":
		return unicode.White_Space, nil
	}
	return nil, fmt.Errorf("unknown Unicode property %q", name)
}

func nullable(n *reNode) bool {
	switch n.kind {
	case reClass:
		return false
	case reEmpty, reLook, reAssert:
		return true
	case reConcat:
		for _, s := range n.subs {
			if !nullable(s) {
				return false
			}
		}
		return true
	case reAlt:
		for _, s := range n.subs {
			if nullable(s) {
				return true
			}
		}
		return false
	case reRepeat:
		return n.min == 0 || nullable(n.subs[0])
	}
	return true
}

// Compiled program.
type reOp uint8

const (
	opClass reOp = iota
	opSplit      // try x first, then y
	opJmp
	opMatch
	opLook
	opAssert
)

type reInst struct {
	op   reOp
	x, y int
	cls  *charClass
	sub  *regex
	neg  bool
	kind assertKind
}

// regex is a compiled pattern; it is safe for concurrent use.
type regex struct {
	src   string
	insts []reInst
}

const reMaxInsts = 100000

func compileRegex(pattern string) (*regex, error) {
	if !utf8.ValidString(pattern) {
		return nil, fmt.Errorf("regex %q is not valid UTF-8", pattern)
	}
	p := &reParser{src: []rune(pattern)}
	node, err := p.parseAlt(false, 0)
	if err != nil {
		return nil, err
	}
	if p.more() {
		return nil, p.errorf("unexpected %q", p.peek())
	}
	return compileNode(pattern, node)
}

func compileNode(src string, node *reNode) (*regex, error) {
	c := &reCompiler{}
	if err := c.emit(node); err != nil {
		return nil, fmt.Errorf("regex %q: %w", src, err)
	}
	c.insts = append(c.insts, reInst{op: opMatch})
	return &regex{src: src, insts: c.insts}, nil
}

type reCompiler struct {
	insts []reInst
}

func (c *reCompiler) add(in reInst) int {
	c.insts = append(c.insts, in)
	return len(c.insts) - 1
}

func (c *reCompiler) emit(n *reNode) error {
	if len(c.insts) > reMaxInsts {
		return fmt.Errorf("pattern too large")
	}
	switch n.kind {
	case reEmpty:
	case reClass:
		c.add(reInst{op: opClass, cls: n.cls.finish()})
	case reConcat:
		for _, s := range n.subs {
			if err := c.emit(s); err != nil {
				return err
			}
		}
	case reAlt:
		var jumps []int
		for i, s := range n.subs {
			if i < len(n.subs)-1 {
				split := c.add(reInst{op: opSplit})
				c.insts[split].x = split + 1
				if err := c.emit(s); err != nil {
					return err
				}
				jumps = append(jumps, c.add(reInst{op: opJmp}))
				c.insts[split].y = len(c.insts)
			} else if err := c.emit(s); err != nil {
				return err
			}
		}
		for _, j := range jumps {
			c.insts[j].x = len(c.insts)
		}
	case reRepeat:
		body := n.subs[0]
		for i := 0; i < n.min; i++ {
			if err := c.emit(body); err != nil {
				return err
			}
		}
		if n.max < 0 {
			loop := c.add(reInst{op: opSplit})
			if err := c.emit(body); err != nil {
				return err
			}
			c.add(reInst{op: opJmp, x: loop})
			c.setSplit(loop, loop+1, len(c.insts), n.lazy)
			return nil
		}
		var splits []int
		for i := n.min; i < n.max; i++ {
			s := c.add(reInst{op: opSplit})
			splits = append(splits, s)
			if err := c.emit(body); err != nil {
				return err
			}
		}
		for _, s := range splits {
			c.setSplit(s, s+1, len(c.insts), n.lazy)
		}
	case reLook:
		sub, err := compileNode("", n.subs[0])
		if err != nil {
			return err
		}
		c.add(reInst{op: opLook, sub: sub, neg: n.negLook})
	case reAssert:
		c.add(reInst{op: opAssert, kind: n.assert})
	}
	return nil
}

func (c *reCompiler) setSplit(at, body, out int, lazy bool) {
	if lazy {
		c.insts[at].x, c.insts[at].y = out, body
	} else {
		c.insts[at].x, c.insts[at].y = body, out
	}
}

type reThread struct{ pc, pos int }

// reMatcher holds the scratch space of match attempts; it is not safe for concurrent use.
type reMatcher struct {
	stack  []reThread
	budget int // steps left for the current search
}

var errRegexBudget = fmt.Errorf("pre-tokenizer pattern needs too many steps on this input")

// matchAt returns the end of the leftmost-first match starting exactly at pos, or -1.
func (m *reMatcher) matchAt(re *regex, s string, pos int) (int, error) {
	m.budget = reMaxStepsPerByte * (len(s) - pos + 64)
	return m.run(re, s, pos)
}

// run is matchAt within the current budget.
func (m *reMatcher) run(re *regex, s string, pos int) (int, error) {
	base := len(m.stack)
	defer func() { m.stack = m.stack[:base] }()
	m.stack = append(m.stack, reThread{0, pos})
	insts := re.insts
	for len(m.stack) > base {
		t := m.stack[len(m.stack)-1]
		m.stack = m.stack[:len(m.stack)-1]
		pc, p := t.pc, t.pos
	thread:
		for {
			m.budget--
			if m.budget < 0 {
				return -1, errRegexBudget
			}
			in := &insts[pc]
			switch in.op {
			case opClass:
				if p >= len(s) {
					break thread
				}
				r, w := rune(s[p]), 1
				if r >= utf8.RuneSelf {
					r, w = utf8.DecodeRuneInString(s[p:])
				}
				if !in.cls.matches(r) {
					break thread
				}
				p += w
				pc++
			case opSplit:
				m.stack = append(m.stack, reThread{in.y, p})
				pc = in.x
			case opJmp:
				pc = in.x
			case opMatch:
				return p, nil
			case opLook:
				end, err := m.run(in.sub, s, p)
				if err != nil {
					return -1, err
				}
				if (end >= 0) == in.neg {
					break thread
				}
				pc++
			case opAssert:
				if !assertAt(in.kind, s, p) {
					break thread
				}
				pc++
			}
		}
	}
	return -1, nil
}

func isWordAt(s string, i int, before bool) bool {
	var r rune
	if before {
		if i <= 0 {
			return false
		}
		r, _ = utf8.DecodeLastRuneInString(s[:i])
	} else {
		if i >= len(s) {
			return false
		}
		r, _ = utf8.DecodeRuneInString(s[i:])
	}
	for _, t := range tableWord {
		if unicode.Is(t, r) {
			return true
		}
	}
	return false
}

func assertAt(k assertKind, s string, p int) bool {
	switch k {
	case assertLineStart:
		return p == 0 || s[p-1] == '\n'
	case assertLineEnd:
		return p == len(s) || s[p] == '\n'
	case assertTextStart:
		return p == 0
	case assertTextEnd:
		return p == len(s)
	case assertTextEndNewline:
		return p == len(s) || (p == len(s)-1 && s[p] == '\n')
	case assertWordBoundary:
		return isWordAt(s, p, true) != isWordAt(s, p, false)
	case assertNotWordBoundary:
		return isWordAt(s, p, true) == isWordAt(s, p, false)
	}
	return false
}

// span is a piece of a string, flagged when it is a match of the pattern.
type span struct {
	start, end int
	match      bool
}

// findSpans cuts s into the matches of re and the gaps between them, as the tokenizers
// library does: matches are found left to right without overlap; empty matches are dropped.
func (m *reMatcher) findSpans(re *regex, s string, out []span) ([]span, error) {
	m.budget = reMaxStepsPerByte * (len(s) + 64)
	if out == nil {
		out = make([]span, 0, len(s)/3+4)
	}
	prev := 0
	for pos := 0; pos < len(s); {
		end, err := m.run(re, s, pos)
		if err != nil {
			return nil, err
		}
		if end > pos {
			if prev < pos {
				out = append(out, span{prev, pos, false})
			}
			out = append(out, span{pos, end, true})
			prev, pos = end, end
			continue
		}
		_, w := utf8.DecodeRuneInString(s[pos:])
		pos += w
	}
	if prev < len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out, nil
}
