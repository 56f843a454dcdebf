/* The preprocess kernel compiled for the host (build.rs, feature `kernel-emulation`): the same
 * two source files NVRTC compiles, run by a loop over the grid the device launch would use. One
 * "thread" at a time: the kernel's threads share nothing, so the order cannot matter. */
#include "emulate.h"
#include "preprocess_body.cuh"
#include "preprocess.cu"

extern "C" void edgesight_emulate_preprocess(const EsParams* params, unsigned int grid_x, unsigned int grid_y,
                                             unsigned int block_x, unsigned int block_y) {
    gridDim = dim3{grid_x, grid_y, 1};
    blockDim = dim3{block_x, block_y, 1};
    for (unsigned int by = 0; by < grid_y; by++)
        for (unsigned int bx = 0; bx < grid_x; bx++)
            for (unsigned int ty = 0; ty < block_y; ty++)
                for (unsigned int tx = 0; tx < block_x; tx++) {
                    blockIdx = dim3{bx, by, 0};
                    threadIdx = dim3{tx, ty, 0};
                    edgesight_preprocess(*params);
                }
}

/* The layout the host side assumes (src/preprocess/kernel.rs checks these against its struct). */
extern "C" unsigned int edgesight_emulate_params_size(void) { return sizeof(EsParams); }
extern "C" unsigned int edgesight_emulate_params_offset(unsigned int field) {
    switch (field) {
    case 0: return __builtin_offsetof(EsParams, pitch);
    case 1: return __builtin_offsetof(EsParams, yc);
    case 2: return __builtin_offsetof(EsParams, src_ch);
    case 3: return __builtin_offsetof(EsParams, reserved);
    default: return 0;
    }
}
