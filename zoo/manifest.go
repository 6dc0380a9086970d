package zoo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Manifest is a reference fixture's description (NAME.json): the family, the constructor's config, the
// weight and io files and the tolerance of the comparison.
type Manifest struct {
	Name        string `json:"name"`
	Family      string `json:"family"`
	Constructor struct {
		ModelConfig json.RawMessage `json:"model_config"`
		ModelName   string          `json:"model_name"` // timm fixtures: the timm.create_model name
	} `json:"constructor"`
	Architecture json.RawMessage `json:"architecture"`
	Weights      struct {
		File  string `json:"file"`
		DType string `json:"dtype"`
	} `json:"weights"`
	IO struct {
		File    string              `json:"file"`
		Tensors map[string]IOTensor `json:"tensors"`
	} `json:"io"`
	Tolerance struct {
		Atol float64 `json:"atol"`
		Rtol float64 `json:"rtol"`
	} `json:"tolerance"`
	LabelCheck *struct {
		ClassNames []string `json:"class_names"`
		Prompts    []string `json:"prompts"`
	} `json:"label_check"`
	Prompts []string `json:"prompts"`

	// Dir is the folder the manifest was read from; file names are relative to it.
	Dir string `json:"-"`
}

// IOTensor is one input or expected output of a fixture.
type IOTensor struct {
	Shape   []int  `json:"shape"`
	DType   string `json:"dtype"`
	Meaning string `json:"meaning"`
}

// ParseManifest decodes a manifest.
func ParseManifest(b []byte) (*Manifest, error) {
	m := &Manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Family == "" || m.Name == "" {
		return nil, fmt.Errorf("manifest: missing name or family")
	}
	return m, nil
}

// ReadManifest reads a manifest file; its weight and io file names resolve against its folder.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("zoo: %w", err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("zoo: %s: %w", path, err)
	}
	m.Dir = filepath.Dir(path)
	return m, nil
}

// Path resolves a file name of the manifest against its folder.
func (m *Manifest) Path(file string) string {
	if filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(m.Dir, file)
}

// manifestSpecs builds a spec from a manifest, by family. Family files add their builder in init.
var manifestSpecs = map[string]func(m *Manifest) (*Spec, error){}

// Spec builds the model spec the manifest describes.
func (m *Manifest) Spec() (*Spec, error) {
	f, ok := manifestSpecs[m.Family]
	if !ok {
		return nil, fmt.Errorf("zoo: manifest %s: family %q is not supported (supported: %v)", m.Name, m.Family, keys(manifestSpecs))
	}
	return f(m)
}
