/* cudaemu: __nv_bfloat16 for the backend's sources compiled as C++ (see cuda_runtime.h). Round to nearest even, NaN kept
   quiet, as the GPU's __float2bfloat16_rn. */
#ifndef PLC_EMU_CUDA_BF16_H
#define PLC_EMU_CUDA_BF16_H

#include <stdint.h>
#include <string.h>

static inline unsigned short plc_emu_f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
}
static inline float plc_emu_bf2f(unsigned short h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

struct __nv_bfloat16 {
    unsigned short __x;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : __x(plc_emu_f2bf(f)) {}
    operator float() const { return plc_emu_bf2f(__x); }
};
struct __nv_bfloat162 {
    __nv_bfloat16 x, y;
};

static inline __nv_bfloat16 __float2bfloat16_rn(float f) { __nv_bfloat16 b; b.__x = plc_emu_f2bf(f); return b; }
static inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
static inline float __bfloat162float(__nv_bfloat16 b) { return plc_emu_bf2f(b.__x); }
static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
    __nv_bfloat162 r;
    r.x = __float2bfloat16_rn(a);
    r.y = __float2bfloat16_rn(b);
    return r;
}
static inline float __low2float(__nv_bfloat162 v) { return __bfloat162float(v.x); }
static inline float __high2float(__nv_bfloat162 v) { return __bfloat162float(v.y); }

#endif
