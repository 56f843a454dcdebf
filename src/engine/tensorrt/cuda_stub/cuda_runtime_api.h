/* The two CUDA runtime types TensorRT's headers use, for building the shim without the CUDA
 * toolkit: the shim passes streams and events through, it never calls the CUDA runtime. Same
 * definitions as CUDA's driver_types.h (opaque struct pointers), so the real header and this one
 * give the same ABI. */
#ifndef EDGESIGHT_CUDA_RUNTIME_API_STUB_H
#define EDGESIGHT_CUDA_RUNTIME_API_STUB_H
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
#endif
