// Package resnet implements bottleneck ResNet image towers on the tensor.Backend interface:
//
//   - open_clip's ModifiedResNet (OpenAI CLIP RN50 and relatives): a 3-convolution stem with average
//     pooling, anti-aliased strided bottlenecks (average pooling before the strided 1×1 convolutions instead
//     of a strided 3×3) and an attention-pooling head with its own positional embedding;
//   - the standard ResNet of timm/torchvision (resnet50): 7×7 stem with max pooling, strided 3×3
//     convolutions, global average pooling and an optional linear classifier.
//
// BatchNorm runs in inference mode, so it is folded into the preceding (bias-free) convolution at load
// time: the model only ever executes convolutions with bias. Activations stay channels-last ([B, H, W, C])
// from the input permutation to the head, with weights reordered to [out, k, k, in] at load time, so that
// every convolution is a matrix product over pixels with its bias, ReLU and residual add fused in.
// Checkpoint keys are the libraries' own; the key table of a configuration is Config.Shapes.
package resnet
