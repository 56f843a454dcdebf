/* Just enough of CUDA's dialect for g++ to compile the preprocess kernel for the host, so its
 * arithmetic is tested bit for bit on machines without a GPU (GPU_NOTES: "The preprocess kernel,
 * testable on a CPU"). The kernel uses no float arithmetic today; contraction stays off anyway so
 * that a future float step cannot be fused here while NVRTC runs with --fmad=false. */
#pragma GCC optimize("fp-contract=off")

struct dim3 {
    unsigned int x, y, z;
};

/* The launch coordinates the emulated grid loop sets before each "thread"; per host thread, so
 * that tests running launches in parallel do not see each other's coordinates. */
static thread_local dim3 blockIdx, threadIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
