// Package vit implements Vision Transformer image towers on the tensor.Backend interface.
//
// The open_clip VisionTransformer (Radford et al.'s CLIP image encoder) is the first variant: a bias-free
// patch convolution, a learned class embedding and positional embedding, a LayerNorm before the
// transformer (ln_pre), pre-LN residual blocks with one packed q/k/v projection, a LayerNorm on the class
// token (ln_post) and an optional linear projection into the joint image–text space.
//
// Checkpoint keys are open_clip's own (the `visual.` prefix is passed in by the caller); the key table of a
// variant is its Config.Shapes. Other ViT flavours (timm's class-token/average pooling with fc_norm and a
// classifier head, BEiT's relative position bias, layer scale and q/v biases) fit the same Model: they add a
// Style, a key table and the optional per-block tensors, and reuse Forward's stages.
package vit
