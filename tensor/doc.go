// Package tensor holds plp's dense float32 tensors and the Backend interface that every model family calls.
// CPU and CUDA implement the same interface, so model code runs unchanged on either.
//
// # Backend contract
//
// A Tensor is a shape plus storage owned by exactly one Backend; it is row-major and contiguous. Views made by
// Reshape and Narrow0 share storage with their parent; every other operation returns a new Tensor and never
// writes to its inputs. Operations on tensors of different backends are a programming error.
//
// Results may be computed asynchronously (a device backend queues work on a stream). They are guaranteed
// ready when the caller reads them on the host: Backend.ToHost and Backend.Sync block until all queued work
// that they depend on is done. Host slices passed to FromHost may be reused by the caller as soon as it
// returns. Storage is released when the Tensor becomes unreachable; device backends may also offer early
// release through Free, which callers use in hot loops to cap peak memory. Using a Tensor after Free is a
// programming error.
//
// Shape errors in model code are programming errors and panic with a message naming the op and shapes;
// model loaders validate user-supplied weights before they reach the backend, so untrusted input never
// reaches these panics.
package tensor
