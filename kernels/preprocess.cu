/* The entry point of edgesight's preprocess kernel: one thread per output pixel. It follows
 * preprocess_body.cuh in the text NVRTC compiles (src/preprocess/cuda/ concatenates the two, so
 * NVRTC needs no include path) and in the host emulation (kernels/emulate.cpp). Launched as a 2-D
 * grid of 32 x 8 blocks covering the model input; see src/preprocess/kernel.rs for the grid. */

extern "C" __global__ void edgesight_preprocess(const EsParams p) {
    es_u32 x = blockIdx.x * blockDim.x + threadIdx.x;
    es_u32 y = blockIdx.y * blockDim.y + threadIdx.y;
    es_preprocess_pixel(&p, x, y);
}
