// Package textenc implements CLIP's text transformer on the tensor.Backend interface: token and positional
// embeddings, pre-LN residual blocks with causal attention, ln_final, the feature at the end-of-text
// position (the largest token id) and the text projection. It also holds the model's logit scale and the
// prompt-ensemble label embeddings that turn class names into a zero-shot classifier.
//
// Checkpoint keys are open_clip's own (the text tower lives at the root of an open_clip state dict, next to
// the `visual.` image tower); the key table is Config.Shapes.
package textenc
