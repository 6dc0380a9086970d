// Package convnext implements timm's ConvNeXt image trunk on the tensor.Backend interface: a 4×4 patchify
// stem, four stages of depthwise-7×7 blocks with channels-last LayerNorm, an inverted-bottleneck MLP and
// per-channel layer scale, LayerNorm + 2×2 strided convolutions between stages, and a head of global
// average pooling and LayerNorm (optionally followed by a linear classifier).
//
// Checkpoint keys are timm's own (stem.*, stages.{i}.*, head.norm.*, head.fc.*); the key table of a
// configuration is Config.Shapes. open_clip's TimmModel wraps this trunk under the "visual.trunk." prefix
// and adds its own projection head, which the zoo package builds.
package convnext
