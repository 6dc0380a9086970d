package zoo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Resolve returns the spec for a registry name or one of the libraries' own spellings of it (open_clip's
// "ViT-B-16/openai", timm's "vit_base_patch16_224"; see Aliases), or builds one from a configuration file:
// open_clip's open_clip_config.json (model_cfg + preprocess_cfg), an open_clip model config (embed_dim,
// vision_cfg, text_cfg) or a fixture manifest (family + constructor). An unknown name is answered with
// the closest registered names; a missing file that looks like a path (.json, ./, /) as a missing file.
func Resolve(nameOrPath string) (*Spec, error) {
	if s, ok := Lookup(nameOrPath); ok {
		return s, nil
	}
	if fi, err := os.Stat(nameOrPath); err != nil || fi.IsDir() {
		if s, ok, err := lookupAlias(nameOrPath); ok || err != nil {
			return s, err
		}
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		if !os.IsNotExist(err) {
			return nil, fmt.Errorf("zoo: %w", err)
		}
		if looksLikePath(nameOrPath) {
			return nil, fmt.Errorf("zoo: config file %s: no such file", nameOrPath)
		}
		return nil, unknownModel(nameOrPath)
	}
	return ParseConfigFile(filepath.Base(nameOrPath), b)
}

// ParseConfigFile builds a spec from the contents of a configuration file; name becomes the spec's name.
func ParseConfigFile(name string, b []byte) (*Spec, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("zoo: config %s: %w", name, err)
	}
	switch {
	case top["model_cfg"] != nil:
		return parseOpenCLIPConfigFile(name, top)
	case top["family"] != nil && top["constructor"] != nil:
		m, err := ParseManifest(b)
		if err != nil {
			return nil, fmt.Errorf("zoo: config %s: %w", name, err)
		}
		return m.Spec()
	case top["vision_cfg"] != nil && top["embed_dim"] != nil:
		cfg, err := ParseOpenCLIPConfig(b)
		if err != nil {
			return nil, fmt.Errorf("zoo: config %s: %w", name, err)
		}
		return &Spec{Name: name, Config: cfg, Preprocess: openCLIPPreprocess(cfg.ImageSize())}, nil
	}
	return nil, fmt.Errorf("zoo: config %s: not an open_clip_config.json, open_clip model config or fixture manifest", name)
}

func parseOpenCLIPConfigFile(name string, top map[string]json.RawMessage) (*Spec, error) {
	cfg, err := ParseOpenCLIPConfig(top["model_cfg"])
	if err != nil {
		return nil, fmt.Errorf("zoo: config %s: %w", name, err)
	}
	s := &Spec{Name: name, Config: cfg, Preprocess: openCLIPPreprocess(cfg.ImageSize())}
	if raw := top["preprocess_cfg"]; raw != nil {
		var p openCLIPPreprocessCfg
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("zoo: config %s: preprocess_cfg: %w", name, err)
		}
		if err := p.apply(&s.Preprocess); err != nil {
			return nil, fmt.Errorf("zoo: config %s: %w", name, err)
		}
	}
	return s, nil
}
