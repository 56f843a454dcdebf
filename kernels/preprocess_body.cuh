/* The arithmetic of edgesight's preprocess kernel: one output pixel of the model input from a
 * decoded frame. Compiled two ways from this one text:
 *   - on the device by NVRTC, followed by preprocess.cu (src/preprocess/cuda/ concatenates them);
 *   - on the host by g++ through emulate.h (kernels/emulate.cpp), for the bit-exact tests that run
 *     on machines without a GPU (tests/conformance.rs, the `cuda-emulated` pair).
 * So: no includes, no library calls, no float arithmetic, no shared memory, barriers, warp
 * intrinsics or atomics; every value is a pure function of the output coordinates. It reproduces
 * src/preprocess/{yuv,resize,cpu}.rs exactly:
 *   - YUV 4:2:0 to BGR as FFmpeg swscale (video) or libjpeg (JPEG, "fancy" upsampling) does;
 *   - OpenCV INTER_LINEAR in fixed point, from the tap tables the host computes once per source
 *     size (the same `column_taps` / `row_taps` the CPU path uses);
 *   - normalisation through the CPU path's 3 x 256 table in the output element type (f32, f16
 *     rounded to nearest even, or u8), so no float operation runs here at all;
 *   - letterbox placement (off_x, off_y, new_w, new_h) from the CPU path's Geometry.
 * The host side builds EsParams in src/preprocess/kernel.rs: the two layouts must stay equal
 * (its unit test checks the size and offsets the Rust side assumes). */

#define ES_PACKED3 0u
#define ES_PACKED4 1u
#define ES_I420 2u
#define ES_NV12 3u

#define ES_YUV_VIDEO 0u
#define ES_YUV_JPEG 1u

#define ES_NCHW 0u
#define ES_NHWC 1u

typedef unsigned long long es_u64;
typedef unsigned int es_u32;
typedef unsigned short es_u16;
typedef unsigned char es_u8;

/* Everything a launch needs, passed by value (168 bytes). Addresses are device addresses on the
 * GPU and host addresses in the emulation. */
typedef struct EsParams {
    es_u64 plane[3];    /* first byte of each plane */
    es_u64 xtaps;       /* new_w x {i0, i1, w0, w1} (int32): columns of the image rectangle */
    es_u64 ytaps;       /* new_h x {i0, i1, w0, w1} (int32): rows of the image rectangle */
    es_u64 lut;         /* 3 x 256 output elements: tensor channel c, pixel value v */
    es_u64 out;         /* the image's first element in the engine's input */
    es_u32 pitch[3];    /* bytes from one row to the next, per plane */
    es_u32 src_w, src_h;
    es_u32 format;      /* ES_PACKED3 .. ES_NV12 */
    es_u32 yuv;         /* ES_YUV_VIDEO or ES_YUV_JPEG */
    int yc[6];          /* swscale fixed point: y_mul, y_off, vr, ub, ug, vg */
    es_u32 dst_w, dst_h;
    es_u32 off_x, off_y, new_w, new_h;
    es_u32 layout;      /* ES_NCHW or ES_NHWC */
    es_u32 elem;        /* bytes per output element: 4 (f32), 2 (f16) or 1 (u8) */
    es_u32 src_ch[3];   /* tensor channel c takes frame channel src_ch[c] */
    es_u32 pad[3];      /* bits of the padding element per tensor channel */
    es_u32 reserved;
} EsParams;

__device__ __forceinline__ static int es_sat(int v) {
    return v < 0 ? 0 : (v > 255 ? 255 : v);
}

/* pmulhw: signed 16 x 16 product, high half (an arithmetic shift, as swscale's SIMD does). */
__device__ __forceinline__ static int es_mulhi(int a, int b) {
    return (a * b) >> 16;
}

__device__ __forceinline__ static es_u8 es_at(const EsParams* p, es_u32 plane, es_u32 x, es_u32 y) {
    const es_u8* base = (const es_u8*)p->plane[plane];
    return base[(es_u64)y * p->pitch[plane] + x];
}

/* Chroma sample (U for k = 0, V for k = 1) at chroma coordinates (cx, cy). */
__device__ __forceinline__ static int es_chroma(const EsParams* p, es_u32 k, es_u32 cx, es_u32 cy) {
    if (p->format == ES_I420) return es_at(p, 1 + k, cx, cy);
    return es_at(p, 1, cx * 2 + k, cy);
}

/* libjpeg h2v2 fancy upsampling: the chroma value (x16) that luma pixel (x, y) sees. */
__device__ __forceinline__ static int es_jpeg_chroma(const EsParams* p, es_u32 k, es_u32 x, es_u32 y) {
    es_u32 cw = (p->src_w + 1) / 2, ch = (p->src_h + 1) / 2;
    es_u32 near = y / 2;
    es_u32 far = (y % 2 == 0) ? (near > 0 ? near - 1 : 0) : (near + 1 < ch ? near + 1 : ch - 1);
    es_u32 i = x / 2;
    int self = es_chroma(p, k, i, near) * 3 + es_chroma(p, k, i, far);
    if (x % 2 == 0) {
        es_u32 j = i > 0 ? i - 1 : i;
        int prev = es_chroma(p, k, j, near) * 3 + es_chroma(p, k, j, far);
        return (self * 3 + prev + 8) >> 4;
    }
    es_u32 j = i + 1 < cw ? i + 1 : i;
    int next = es_chroma(p, k, j, near) * 3 + es_chroma(p, k, j, far);
    return (self * 3 + next + 7) >> 4;
}

/* Source pixel (x, y) as three bytes: in the frame's own order for packed formats, B, G, R for
 * YUV (the order src_ch was computed for on the host). */
__device__ __forceinline__ static void es_pixel(const EsParams* p, es_u32 x, es_u32 y, int px[3]) {
    if (p->format == ES_PACKED3 || p->format == ES_PACKED4) {
        es_u32 bpp = p->format == ES_PACKED3 ? 3u : 4u;
        for (int k = 0; k < 3; k++) px[k] = es_at(p, 0, x * bpp + k, y);
        return;
    }
    int l = es_at(p, 0, x, y);
    if (p->yuv == ES_YUV_JPEG) {
        int cb = es_jpeg_chroma(p, 0, x, y) - 128, cr = es_jpeg_chroma(p, 1, x, y) - 128;
        /* JFIF tables in 16-bit fixed point: FIX(1.402), FIX(0.34414), FIX(0.71414), FIX(1.772). */
        const int half = 1 << 15;
        px[0] = es_sat(l + ((116130 * cb + half) >> 16));
        px[1] = es_sat(l + ((-22554 * cb + half - 46802 * cr) >> 16));
        px[2] = es_sat(l + ((91881 * cr + half) >> 16));
        return;
    }
    /* swscale: two pixels share the chroma sample of their pair, nearest, no interpolation. */
    int cu = es_chroma(p, 0, x / 2, y / 2) * 8 - 1024, cv = es_chroma(p, 1, x / 2, y / 2) * 8 - 1024;
    int lum = es_mulhi(l * 8 - p->yc[1], p->yc[0]);
    px[0] = es_sat(lum + es_mulhi(cu, p->yc[3]));
    px[1] = es_sat(lum + es_mulhi(cu, p->yc[4]) + es_mulhi(cv, p->yc[5]));
    px[2] = es_sat(lum + es_mulhi(cv, p->yc[2]));
}

/* OpenCV's vertical blend of two horizontal sums (11-bit weights) into an 8-bit value. */
__device__ __forceinline__ static int es_vertical(int s0, int s1, int b0, int b1) {
    int v = (((s0 >> 4) * b0) >> 16) + (((s1 >> 4) * b1) >> 16);
    return es_sat((v + 2) >> 2);
}

__device__ __forceinline__ static void es_store(const EsParams* p, es_u64 i, es_u32 bits) {
    if (p->elem == 4u) ((es_u32*)p->out)[i] = bits;
    else if (p->elem == 2u) ((es_u16*)p->out)[i] = (es_u16)bits;
    else ((es_u8*)p->out)[i] = (es_u8)bits;
}

__device__ __forceinline__ static es_u32 es_lut(const EsParams* p, es_u32 c, int v) {
    es_u32 i = c * 256u + (es_u32)v;
    if (p->elem == 4u) return ((const es_u32*)p->lut)[i];
    if (p->elem == 2u) return ((const es_u16*)p->lut)[i];
    return ((const es_u8*)p->lut)[i];
}

/* Writes output pixel (x, y): three elements of the model input. */
__device__ __forceinline__ static void es_preprocess_pixel(const EsParams* p, es_u32 x, es_u32 y) {
    if (x >= p->dst_w || y >= p->dst_h) return;
    es_u64 plane = (es_u64)p->dst_w * p->dst_h, at = (es_u64)y * p->dst_w + x;
    es_u32 bits[3];
    if (x < p->off_x || y < p->off_y || x >= p->off_x + p->new_w || y >= p->off_y + p->new_h) {
        for (int c = 0; c < 3; c++) bits[c] = p->pad[c];
    } else {
        const int* xt = (const int*)p->xtaps + 4 * (x - p->off_x);
        const int* yt = (const int*)p->ytaps + 4 * (y - p->off_y);
        int a[3], b[3], s0[3], s1[3];
        es_pixel(p, (es_u32)xt[0], (es_u32)yt[0], a);
        es_pixel(p, (es_u32)xt[1], (es_u32)yt[0], b);
        for (int k = 0; k < 3; k++) s0[k] = a[k] * xt[2] + b[k] * xt[3];
        es_pixel(p, (es_u32)xt[0], (es_u32)yt[1], a);
        es_pixel(p, (es_u32)xt[1], (es_u32)yt[1], b);
        for (int k = 0; k < 3; k++) s1[k] = a[k] * xt[2] + b[k] * xt[3];
        for (es_u32 c = 0; c < 3; c++) {
            es_u32 k = p->src_ch[c];
            bits[c] = es_lut(p, c, es_vertical(s0[k], s1[k], yt[2], yt[3]));
        }
    }
    for (es_u32 c = 0; c < 3; c++) {
        es_u64 i = p->layout == ES_NCHW ? c * plane + at : at * 3 + c;
        es_store(p, i, bits[c]);
    }
}
