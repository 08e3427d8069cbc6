package bb

import (
	"fmt"
	"strings"

	"github.com/sinkscope/sinkscope/datasets/internal/winrng"
	"github.com/sinkscope/sinkscope/datasets/stream"
)

// rngStream separates this package's windows from other streams built on the same seed.
const rngStream = 0xbb_0b16_2a3b_ac01

// Stream is a stream.Stream of Bigram-Backcopy sequences: every window is one sequence of
// SeqLen()+1 tokens, BOS first, drawn from its own PCG generator seeded by (seed, split, step,
// micro, index). Train and Val hash different split values, so their generators never coincide;
// a window's content depends only on its coordinates (a smaller n gives a prefix of a larger
// one). The fixture's 64-token sequences are windows of SeqLen 63.
type Stream struct {
	task   *Task
	seqLen int
	seed   uint64
}

var _ stream.Stream = (*Stream)(nil)

// NewStream returns the stream of task's sequences with seqLen model inputs per window
// (windows of seqLen+1 tokens), seeded by seed.
func NewStream(task *Task, seqLen int, seed uint64) (*Stream, error) {
	if task == nil {
		return nil, fmt.Errorf("bb: NewStream needs a task")
	}
	if seqLen < 1 {
		return nil, fmt.Errorf("bb: sequence length %d, want ≥ 1", seqLen)
	}
	return &Stream{task: task, seqLen: seqLen, seed: seed}, nil
}

// Task is the process the stream samples.
func (s *Stream) Task() *Task { return s.task }

// Name describes the stream, e.g.
// "Bigram-Backcopy (Brown bigrams, triggers ' ', e, t), BOS first, seed 1".
func (s *Stream) Name() string {
	trig := make([]string, len(s.task.triggers))
	for i, id := range s.task.triggers {
		if c := Symbols[id-1]; c == ' ' || c == '.' || c == ',' {
			trig[i] = fmt.Sprintf("'%c'", c)
		} else {
			trig[i] = string(c)
		}
	}
	return fmt.Sprintf("Bigram-Backcopy (Brown bigrams, triggers %s), BOS first, seed %d",
		strings.Join(trig, ", "), s.seed)
}

// Vocab is 30.
func (s *Stream) Vocab() int { return Vocab }

// BOS is 0.
func (s *Stream) BOS() int { return BOS }

// SeqLen is the number of model inputs per window.
func (s *Stream) SeqLen() int { return s.seqLen }

// Train returns the n training windows of (step, micro).
func (s *Stream) Train(step, micro, n int) ([][]int, error) {
	if step < 0 || micro < 0 || n < 0 {
		return nil, fmt.Errorf("bb: Train(step %d, micro %d, n %d): arguments must be ≥ 0", step, micro, n)
	}
	return s.windows(winrng.Train, step, micro, n), nil
}

// Val returns validation batch i of n windows.
func (s *Stream) Val(i, n int) ([][]int, error) {
	if i < 0 || n < 0 {
		return nil, fmt.Errorf("bb: Val(%d, n %d): arguments must be ≥ 0", i, n)
	}
	return s.windows(winrng.Val, i, 0, n), nil
}

func (s *Stream) windows(split winrng.Split, step, micro, n int) [][]int {
	w := s.seqLen + 1
	flat := make([]int, n*w)
	out := make([][]int, n)
	var rng winrng.Rand
	for i := range out {
		rng.Reset(rngStream, s.seed, split, step, micro, i)
		out[i] = flat[i*w : (i+1)*w : (i+1)*w]
		s.task.Fill(&rng, out[i], nil)
	}
	return out
}
