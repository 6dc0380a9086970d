package train

import (
	"fmt"

	"plp/tokenizer"
	"plp/zoo"
)

// EncodeTexts returns the L2-normalised text-tower embeddings of texts ([len(texts), embed], row-major)
// and the embedding width. progress, when not nil, is called with the number of texts done so far.
func EncodeTexts(m *zoo.Model, texts []string, progress func(done int)) ([]float32, int, error) {
	if !m.HasText() {
		return nil, 0, fmt.Errorf("%s has no text tower", m.Name())
	}
	if len(texts) == 0 {
		return nil, 0, fmt.Errorf("no texts to encode")
	}
	tok, err := tokenizer.New()
	if err != nil {
		return nil, 0, err
	}
	// Tokenised a chunk at a time: the tokenizer pads to the context length, and a whole word corpus
	// of padded rows would be large.
	const chunk = 512
	text, be := m.Text(), m.Backend()
	var rows []float32
	for i := 0; i < len(texts); i += chunk {
		ids := tok.Tokenize(texts[i:min(i+chunk, len(texts))], 0)
		e, err := text.EncodeText(ids, true)
		if err != nil {
			return nil, 0, err
		}
		rows = append(rows, be.ToHost(e)...)
		be.Free(e)
		if progress != nil {
			progress(min(i+chunk, len(texts)))
		}
	}
	return rows, len(rows) / len(texts), nil
}
