package corpus

import "strings"

// kind classifies a token for detokenization.
type kind uint8

const (
	kWord        kind = iota // ordinary word: space on both sides
	kPunct                   // , . ; : ? ! — attaches to the left
	kAttach                  // ) ] } and clitics such as n't, 's — attach to the left
	kOpen                    // ( [ { — attach to the right
	kOpenDouble              // `` — opening double quote
	kCloseDouble             // '' — closing double quote
	kSingle                  // ' standing alone, not yet known to open or close
	kOpenSingle              // ' opening a quotation
	kCloseSingle             // ' closing a quotation
)

type item struct {
	text string
	kind kind
}

// clitics are the contraction pieces that attach to the preceding word when a tokenizer has
// split them off. (The Brown corpus keeps contractions whole, "can't", "Atlanta's"; other
// token streams may not.)
var clitics = []string{"n't", "'s", "'re", "'ll", "'d", "'ve", "'m"}

func isClitic(tok string) bool {
	if len(tok) < 2 || len(tok) > 3 || (tok[0] != '\'' && tok[0] != 'n' && tok[0] != 'N') {
		return false
	}
	for _, c := range clitics {
		if strings.EqualFold(tok, c) {
			return true
		}
	}
	return false
}

func classify(tok string) item {
	switch tok {
	case "``":
		return item{`"`, kOpenDouble}
	case "''":
		return item{`"`, kCloseDouble}
	case "'":
		return item{"'", kSingle}
	case ",", ".", ";", ":", "?", "!":
		return item{tok, kPunct}
	case ")", "]", "}":
		return item{tok, kAttach}
	case "(", "[", "{":
		return item{tok, kOpen}
	}
	if isClitic(tok) {
		return item{tok, kAttach}
	}
	// Inch marks and the like are written with the corpus's quote pairs inside words: 1/4''.
	if strings.Contains(tok, "''") || strings.Contains(tok, "``") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "''", `"`), "``", `"`)
	}
	return item{tok, kWord}
}

func isOpener(k kind) bool     { return k == kOpen || k == kOpenDouble || k == kOpenSingle }
func isCloseQuote(k kind) bool { return k == kCloseDouble || k == kCloseSingle }

// Detokenize joins the words of a tokenized text (tags already removed) into natural text,
// for example
//
//	The ``no evidence'' . → The "no evidence."
//
// The rules follow the Brown corpus's conventions, where an opening double quote is written as
// two backquotes and a closing one as two apostrophes:
//
//   - Both quote tokens become a straight double quote ("), the opening one with no space after,
//     the closing one with no space before. Two apostrophes inside a word (inch marks, as in
//     1/4 followed by them) become " too, and the stray closing-quote token the corpus puts
//     after each such word is dropped.
//   - , . ; : ? ! ) ] } and split-off clitics (n't 's 're 'll 'd 've 'm) take no space before;
//     ( [ { take no space after. Everything else, including -- and &, is spaced.
//   - A lone ' is a single quotation mark: it opens at the start, after an opening bracket or
//     quote, or after , : ; --; it closes at the end or before punctuation; otherwise it
//     alternates between opening and closing, starting afresh at each double quote (single
//     quotes nest inside double ones).
//   - The corpus doubles some punctuation (sentence-final "; ;", "? ?", "! !", ": :", and ", ,"
//     after Roman numerals written as digits); a repeated , ; : ? ! is dropped. A period right
//     after a word that already ends in one ("Jr. .", "U.S. .") is dropped, and so is a period
//     or comma right after ? or ! (even with closing quotes between: "Why?" he asked).
//   - The corpus moves all punctuation outside closing quotes ("no evidence" .). Commas and
//     periods are put back inside, as in the American print the texts come from
//     (... received," the jury said); ; : ? ! stay outside, since whether they belong to the
//     quotation cannot be told.
func Detokenize(words []string) string {
	return detokenize(words, nil)
}

// detokenize is Detokenize reusing buf for its working space.
func detokenize(words []string, buf *[]item) string {
	var items []item
	if buf != nil {
		items = (*buf)[:0]
		defer func() { *buf = items[:0] }()
	}
	for i, w := range words {
		if w == "''" && i > 0 && len(words[i-1]) > 2 && strings.HasSuffix(words[i-1], "''") {
			continue // the corpus follows every inch mark (1/8'') with a stray ''
		}
		items = append(items, classify(w))
	}
	resolveSingles(items)
	items = normalizePunct(items)
	return render(items)
}

// resolveSingles decides whether each lone ' opens or closes a quotation.
func resolveSingles(items []item) {
	open := false
	for i := range items {
		if items[i].kind == kOpenDouble || items[i].kind == kCloseDouble {
			open = false
		}
		if items[i].kind != kSingle {
			continue
		}
		var prev, next *item
		if i > 0 {
			prev = &items[i-1]
		}
		if i+1 < len(items) {
			next = &items[i+1]
		}
		var opens bool
		switch {
		case prev == nil || isOpener(prev.kind):
			opens = true
		case next == nil || next.kind == kPunct || next.kind == kAttach || isCloseQuote(next.kind) || next.kind == kSingle:
			opens = false
		case prev.kind == kPunct && prev.text != "." && prev.text != "?" && prev.text != "!", prev.text == "--":
			opens = true
		default:
			opens = !open
		}
		open = opens
		if opens {
			items[i].kind = kOpenSingle
		} else {
			items[i].kind = kCloseSingle
		}
	}
}

// normalizePunct drops the corpus's doubled punctuation and moves commas and periods inside
// closing quotes. It works in place: out never grows past the item being read.
func normalizePunct(items []item) []item {
	out := items[:0]
	for _, it := range items {
		if it.kind != kPunct {
			out = append(out, it)
			continue
		}
		// j: the last item before any run of closing quotes at the end of out.
		j := len(out) - 1
		for j >= 0 && isCloseQuote(out[j].kind) {
			j--
		}
		if j >= 0 {
			prev := out[j]
			if prev.kind == kPunct && prev.text == it.text {
				continue // doubled punctuation
			}
			if it.text == "." && prev.kind == kWord && strings.HasSuffix(prev.text, ".") {
				continue // the abbreviation's period already ends the sentence
			}
			if (it.text == "." || it.text == ",") && prev.kind == kPunct && (prev.text == "?" || prev.text == "!") {
				continue // "Why?" he asked.
			}
		}
		if (it.text == "," || it.text == ".") && j < len(out)-1 && j >= 0 {
			// Put the comma or period before the closing quotes.
			out = append(out, item{})
			copy(out[j+2:], out[j+1:])
			out[j+1] = it
			continue
		}
		out = append(out, it)
	}
	return out
}

func render(items []item) string {
	var b strings.Builder
	size := len(items)
	for _, it := range items {
		size += len(it.text)
	}
	b.Grow(size)
	for i, it := range items {
		if i > 0 {
			prev := items[i-1].kind
			attachLeft := it.kind == kPunct || it.kind == kAttach || isCloseQuote(it.kind)
			if !attachLeft && !isOpener(prev) {
				b.WriteByte(' ')
			}
		}
		b.WriteString(it.text)
	}
	return b.String()
}
