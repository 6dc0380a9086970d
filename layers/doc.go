// Package layers holds the building blocks shared by the model families: strict parameter loading against
// a key table, seeded random parameters for benchmarks, LayerNorm parameters and open_clip's pre-LN
// residual attention block. It sits just below the families and, like them, reaches the hardware only
// through the tensor.Backend interface.
package layers
