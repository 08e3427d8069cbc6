package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/sinkscope/sinkscope/datasets/tokenizer"
)

func Example() {
	tok, err := tokenizer.Load("testdata/llama2")
	if err != nil {
		log.Fatal(err)
	}
	ids, err := tok.Encode("Hello world!\n", tokenizer.AddBOS)
	if err != nil {
		log.Fatal(err)
	}
	labels, _ := tok.TokenStrings(ids)
	text, _ := tok.Decode(ids[1:])
	fmt.Println(ids)
	fmt.Printf("%q\n", labels)
	fmt.Printf("%q\n", text)
	// Output:
	// [1 348 296 315 433 325 507 322 314 261 260]
	// ["<s>" " " "H" "e" "ll" "o" " wor" "l" "d" "!" "\n"]
	// "Hello world!\n"
}
