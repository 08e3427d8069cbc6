package winrng

import "testing"

func TestWindowsDiffer(t *testing.T) {
	base := New(1, 2, Train, 3, 4, 5).Uint64()
	if New(1, 2, Train, 3, 4, 5).Uint64() != base {
		t.Fatal("the same coordinates give different draws")
	}
	for name, r := range map[string]*Rand{
		"stream": New(9, 2, Train, 3, 4, 5), "seed": New(1, 9, Train, 3, 4, 5), "split": New(1, 2, Val, 3, 4, 5),
		"step": New(1, 2, Train, 9, 4, 5), "micro": New(1, 2, Train, 3, 9, 5), "index": New(1, 2, Train, 3, 4, 9),
		"swapped": New(1, 2, Train, 4, 3, 5),
	} {
		if r.Uint64() == base {
			t.Errorf("changing %s gives the same first draw", name)
		}
	}
}

func TestDraws(t *testing.T) {
	r := New(0, 0, Train, 0, 0, 0)
	var count [7]int
	for range 70000 {
		f := r.Float64()
		if f < 0 || f >= 1 {
			t.Fatalf("Float64 %v outside [0, 1)", f)
		}
		count[r.Below(7)]++
	}
	for k, c := range count { // 10000 each, sd ≈ 93
		if c < 9500 || c > 10500 {
			t.Errorf("Below(7) gave %d %d times, want about 10000", k, c)
		}
	}
	if HashString("a", 1) == HashString("b", 1) || HashString("a", 1) == HashString("a", 2) {
		t.Error("HashString ignores its inputs")
	}
}
