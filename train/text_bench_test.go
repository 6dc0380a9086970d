package train

import (
	"testing"

	"plp/eval"
	"plp/tensor"
	"plp/zoo"
)

// BenchmarkEncodeNegLabelPrompts encodes 1024 of neglabel's candidate prompts (every 69th of the 70 794,
// so that word lengths are typical) with ViT-B/16's text tower (random weights): a 70 794-prompt
// neglabel fit takes about 69 times as long.
func BenchmarkEncodeNegLabelPrompts(b *testing.B) {
	spec, err := zoo.Resolve("openclip_ViT-B-16/openai")
	if err != nil {
		b.Fatal(err)
	}
	m, err := zoo.NewRandomParts(spec, tensor.CPU{}, 1, zoo.TextTower)
	if err != nil {
		b.Fatal(err)
	}
	nouns, adjs, err := eval.NegLabelCorpus()
	if err != nil {
		b.Fatal(err)
	}
	all := eval.NegLabelPrompts(nouns, adjs)
	var texts []string
	for i := 0; i < len(all) && len(texts) < 1024; i += len(all) / 1024 {
		texts = append(texts, all[i])
	}
	for b.Loop() {
		if _, _, err := EncodeTexts(m, texts, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(texts)*b.N)/b.Elapsed().Seconds(), "texts/s")
}
