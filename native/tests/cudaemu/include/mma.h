/* cudaemu: nvcuda::wmma for the backend's sources compiled as C++ (see cuda_runtime.h). Every lane holds the whole tile
   (the element layout of a real fragment is unspecified, and the backend never relies on it), so a fragment's
   element-wise use is the same on every lane. load_matrix_sync and store_matrix_sync first wait for the whole warp,
   as documented ("waits until all warp lanes have arrived"); each lane then moves the whole tile, so a lane that writes
   into a stored tile before the warp has synchronised races with its neighbours' stores, as on the GPU. Pointers must
   be 256-bit aligned and ldm a multiple of 16 bytes, as documented: anything else fails the launch. */
#ifndef PLC_EMU_MMA_H
#define PLC_EMU_MMA_H

#include "cuda_runtime.h"
#include "cuda_bf16.h"

#include <type_traits>

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K> struct plc_dims;
template <int M, int N, int K> struct plc_dims<matrix_a, M, N, K> { enum { R = M, C = K }; };
template <int M, int N, int K> struct plc_dims<matrix_b, M, N, K> { enum { R = K, C = N }; };
template <int M, int N, int K> struct plc_dims<accumulator, M, N, K> { enum { R = M, C = N }; };

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
    enum { R = plc_dims<Use, M, N, K>::R, C = plc_dims<Use, M, N, K>::C };
    enum { num_elements = R * C };
    T x[R * C]; /* row-major R × C: the whole tile */
};

template <typename Use, int M, int N, int K, typename T, typename L>
static inline void fill_fragment(fragment<Use, M, N, K, T, L> &f, float v) {
    for (int i = 0; i < f.num_elements; i++) f.x[i] = (T)v;
}

/* The documented requirements of wmma's loads and stores: a 256-bit aligned pointer, ldm a multiple of 16 bytes. */
static inline void plc_wmma_check(const char *op, const void *p, unsigned ldm, size_t elem) {
    if (((uintptr_t)p & 31u) != 0) plc_emu_fault("wmma::%s: pointer %p is not 256-bit aligned", op, p);
    if ((ldm * elem) % 16 != 0) plc_emu_fault("wmma::%s: ldm %u is not a multiple of %zu elements", op, ldm, 16 / elem);
}

/* A or B tile from memory in the fragment's own layout (row_major or col_major) */
template <typename Use, int M, int N, int K, typename T, typename L>
static inline void load_matrix_sync(fragment<Use, M, N, K, T, L> &f, const T *p, unsigned ldm) {
    static_assert(std::is_same<L, row_major>::value || std::is_same<L, col_major>::value, "an A or B fragment");
    const bool col = std::is_same<L, col_major>::value;
    plc_wmma_check("load_matrix_sync", p, ldm, sizeof(T));
    __syncwarp();
    for (int r = 0; r < f.R; r++)
        for (int c = 0; c < f.C; c++) f.x[r * f.C + c] = col ? p[(size_t)c * ldm + r] : p[(size_t)r * ldm + c];
}
template <int M, int N, int K>
static inline void load_matrix_sync(fragment<accumulator, M, N, K, float, void> &f, const float *p, unsigned ldm,
                                    layout_t layout) {
    plc_wmma_check("load_matrix_sync", p, ldm, sizeof(float));
    __syncwarp();
    for (int r = 0; r < f.R; r++)
        for (int c = 0; c < f.C; c++)
            f.x[r * f.C + c] = layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}
template <int M, int N, int K>
static inline void store_matrix_sync(float *p, const fragment<accumulator, M, N, K, float, void> &f, unsigned ldm,
                                     layout_t layout) {
    plc_wmma_check("store_matrix_sync", p, ldm, sizeof(float));
    __syncwarp();
    for (int r = 0; r < f.R; r++)
        for (int c = 0; c < f.C; c++) {
            float *q = layout == mem_row_major ? p + (size_t)r * ldm + c : p + (size_t)c * ldm + r;
            *q = f.x[r * f.C + c];
        }
}
/* D = A·B + C with F32 accumulation (bf16 products are exact in F32) */
template <int M, int N, int K, typename TA, typename LA, typename TB, typename LB>
static inline void mma_sync(fragment<accumulator, M, N, K, float, void> &d, const fragment<matrix_a, M, N, K, TA, LA> &a,
                            const fragment<matrix_b, M, N, K, TB, LB> &b,
                            const fragment<accumulator, M, N, K, float, void> &c) {
    float out[M * N];
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float s = c.x[m * N + n];
            for (int k = 0; k < K; k++) s += (float)a.x[m * K + k] * (float)b.x[k * N + n];
            out[m * N + n] = s;
        }
    for (int i = 0; i < M * N; i++) d.x[i] = out[i];
}
} // namespace wmma
} // namespace nvcuda

#endif
