// Package zoo maps the paper's model names to runnable models: each registry entry names a family, its
// architecture config, the preprocessing its weights expect and the checkpoint files users download. It
// also builds models from configuration files (open_clip's open_clip_config.json, open_clip model configs,
// and the manifests of plp's reference fixtures) and runs a fixture manifest for parity checks.
//
// Families plug in with one file each: a Config implementation, registry rows (register in init), and a
// parity runner keyed by the manifest's family name. The open_clip CLIP family (ViT image tower + text
// transformer) lives in openclip.go.
package zoo
