/* Causal grouped-query attention on the device, flash-style: no T×T matrix is ever stored. The twin of
   src/ops/attention.c. F32 inputs, F32 math on CUDA cores (the first, correctness-first version).

   Layout: q, out, dq [B][Tq][n_head·hd]; k, v [B][Tk][n_head_kv·hd] (batch stride kv_stride floats), dk, dv likewise
   with kv_stride = T·n_head_kv·hd; lse and D [B][n_head][Tq]. Query head h reads K/V head h / (n_head/n_head_kv).

   Tiling: a tile is ATT_TILE = 32 query rows or 32 keys, one per warp lane where a lane walks a tile. A block has
   ATT_WARPS = 8 warps; each warp owns ATT_ROWS = 4 rows of its block's tile (queries in the forward and dQ kernels, keys
   in the dK/dV kernel) and keeps their hd-long accumulators in registers, lane l holding dims l, l+32, … (NC = ⌈hd/32⌉
   of them, a template parameter, so hd is any value from 1 to 256). Scores are computed lane-per-partner (lane j: the
   j-th key or query of the other tile), then broadcast with shuffles for the products with V, dO, Q or K. Every
   reduction runs in a fixed order: results are bit-identical run to run, and there are no atomics. */
#include <math.h>
#include <limits.h>
#include "kernels.cuh"

#define ATT_TILE 32                        /* queries per query tile = keys per key tile = lanes of a warp */
#define ATT_ROWS 4                         /* tile rows a warp owns */
#define ATT_WARPS (ATT_TILE / ATT_ROWS)    /* 8 */
#define ATT_THREADS (ATT_WARPS * 32)       /* 256 */
#define ATT_MAX_HD 256                     /* NC ≤ 8 dims per lane */
#define ATT_FULL 0xffffffffu

/* The largest value over the 32 lanes (butterfly: every lane gets the same result). */
static __device__ __forceinline__ float att_warp_max(float x) {
    for (int m = 16; m > 0; m >>= 1) x = fmaxf(x, __shfl_xor_sync(ATT_FULL, x, m));
    return x;
}

/* The sum over the 32 lanes (butterfly; a + b == b + a exactly, so every lane gets the same bits). */
static __device__ __forceinline__ float att_warp_sum(float x) {
    for (int m = 16; m > 0; m >>= 1) x += __shfl_xor_sync(ATT_FULL, x, m);
    return x;
}

/* Shared-memory row stride of a tile read lane-per-row (lane j reads row j at the same column): odd, so the 32 lanes
   hit 32 different banks. Tiles read lane-per-column (or by all lanes at one address) use stride hd. */
static __host__ __device__ __forceinline__ int att_odd_stride(int hd) { return hd | 1; }

/* Copies rows [r0, r0 + ATT_TILE) of a [n][row] matrix (column offset already in src) into a tile of ATT_TILE rows of
   hd floats at stride ld; rows ≥ n read as zeros. Called by all threads of the block. */
static __device__ __forceinline__ void att_load_tile(float *tile, int ld, const float *src, int64_t row, int64_t r0,
                                                     int64_t n, int hd) {
    for (int i = threadIdx.x; i < ATT_TILE * hd; i += ATT_THREADS) {
        const int r = i / hd, d = i - r * hd;
        const int64_t t = r0 + r;
        tile[r * ld + d] = t < n ? src[t * row + d] : 0.0f;
    }
}

/* out[t] = Σ_{s ≤ pos0+t, s < Tk} softmax_s(q[t]·k[s]/√hd)·v[s], one query tile per block, online softmax over the key
   tiles (running max m, sum l); lse[t] = m + log l. Block index → (query tile, b, h), the heaviest tiles first. */
template <int NC>
static __global__ void __launch_bounds__(ATT_THREADS)
attention_forward_kernel(float *out, float *lse, const float *q, const float *k, const float *v, int64_t Tq, int64_t Tk,
                         int64_t pos0, int n_head, int group, int hd, int64_t kv_stride, int64_t n_bh, int64_t n_qt,
                         float scale) {
    extern __shared__ float smem[];
    const int ks = att_odd_stride(hd);
    float *Qs = smem;                        /* [TILE][hd]  read by all lanes at one address */
    float *Ks = Qs + ATT_TILE * hd;          /* [TILE][ks]  read lane-per-key */
    float *Vs = Ks + ATT_TILE * ks;          /* [TILE][hd]  read lane-per-dim */
    const int64_t bh = (int64_t)blockIdx.x % n_bh, qt = n_qt - 1 - (int64_t)blockIdx.x / n_bh;
    const int64_t b = bh / n_head;
    const int h = (int)(bh % n_head), hk = h / group;
    const int64_t q_row = (int64_t)n_head * hd, kv_row = (int64_t)(n_head / group) * hd;
    const int64_t t0 = qt * ATT_TILE;
    const float *qb = q + b * Tq * q_row + (int64_t)h * hd;
    const float *kb = k + b * kv_stride + (int64_t)hk * hd;
    const float *vb = v + b * kv_stride + (int64_t)hk * hd;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    att_load_tile(Qs, hd, qb, q_row, t0, Tq, hd);

    float m[ATT_ROWS], l[ATT_ROWS], o[ATT_ROWS][NC];
    for (int i = 0; i < ATT_ROWS; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        for (int c = 0; c < NC; c++) o[i][c] = 0.0f;
    }
    /* keys any query of the tile sees: s ≤ pos0 + (last query) and s < Tk (key tiles past it are skipped) */
    const int64_t t_last = (t0 + ATT_TILE < Tq ? t0 + ATT_TILE : Tq) - 1;
    const int64_t n_keys = pos0 + t_last + 1 < Tk ? pos0 + t_last + 1 : Tk;
    for (int64_t k0 = 0; k0 < n_keys; k0 += ATT_TILE) {
        __syncthreads(); /* the previous tile's readers are done (and, the first time, Qs is complete below) */
        att_load_tile(Ks, ks, kb, kv_row, k0, Tk, hd);
        att_load_tile(Vs, hd, vb, kv_row, k0, Tk, hd);
        __syncthreads();
        /* lane = key j: sc[i] = q[row i]·k[j]/√hd, −∞ where row i does not see key j */
        const int64_t j = k0 + lane;
        float sc[ATT_ROWS];
        for (int i = 0; i < ATT_ROWS; i++) sc[i] = 0.0f;
        for (int d = 0; d < hd; d++) {
            const float kd = Ks[lane * ks + d];
            for (int i = 0; i < ATT_ROWS; i++) sc[i] += Qs[(warp * ATT_ROWS + i) * hd + d] * kd;
        }
        for (int i = 0; i < ATT_ROWS; i++) {
            const int64_t t = t0 + warp * ATT_ROWS + i;
            sc[i] = j < Tk && j <= pos0 + t ? sc[i] * scale : -INFINITY;
            /* online softmax: rescale what was accumulated by exp(m_old − m_new); a row that has seen no key yet keeps
               m = −∞ and is measured from 0 so that no −∞ − −∞ appears */
            const float m_new = fmaxf(m[i], att_warp_max(sc[i]));
            const float m_ref = m_new == -INFINITY ? 0.0f : m_new;
            const float p = expf(sc[i] - m_ref);
            const float alpha = expf(m[i] - m_ref);
            l[i] = l[i] * alpha + att_warp_sum(p);
            m[i] = m_new;
            for (int c = 0; c < NC; c++) o[i][c] *= alpha;
            sc[i] = p;
        }
        /* o[i][d] += Σ_j p[i][j]·v[j][d], keys in order */
        for (int jj = 0; jj < ATT_TILE; jj++) {
            float vj[NC];
            for (int c = 0; c < NC; c++) {
                const int d = lane + 32 * c;
                vj[c] = d < hd ? Vs[jj * hd + d] : 0.0f;
            }
            for (int i = 0; i < ATT_ROWS; i++) {
                const float pj = __shfl_sync(ATT_FULL, sc[i], jj);
                for (int c = 0; c < NC; c++) o[i][c] += pj * vj[c];
            }
        }
    }
    for (int i = 0; i < ATT_ROWS; i++) {
        const int64_t t = t0 + warp * ATT_ROWS + i;
        if (t >= Tq) continue;
        const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f; /* l = 0 only for a query that sees no key */
        float *ot = out + (b * Tq + t) * q_row + (int64_t)h * hd;
        for (int c = 0; c < NC; c++) {
            const int d = lane + 32 * c;
            if (d < hd) ot[d] = o[i][c] * inv;
        }
        if (lse && lane == 0) lse[bh * Tq + t] = l[i] > 0.0f ? m[i] + logf(l[i]) : -INFINITY;
    }
}

/* D[b][h][t] = Σ_d dout[b][t][h][d]·out[b][t][h][d]: one warp per (b, t, h) row, rows in memory order. */
static __global__ void __launch_bounds__(ATT_THREADS)
attention_backward_d_kernel(float *D, const float *dout, const float *out, int64_t n_rows, int64_t T, int n_head,
                            int hd) {
    const int64_t r = (int64_t)blockIdx.x * ATT_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= n_rows) return; /* whole warps only; no barrier follows */
    const float *a = dout + r * hd, *o = out + r * hd;
    float sum = 0.0f;
    for (int d = lane; d < hd; d += 32) sum += a[d] * o[d];
    sum = att_warp_sum(sum);
    const int64_t h = r % n_head, t = (r / n_head) % T, b = r / ((int64_t)n_head * T);
    if (lane == 0) D[(b * n_head + h) * T + t] = sum;
}

/* dv[s] = Σ_{h of the group} Σ_{t ≥ s} P[t][s]·dout[t];  dk[s] = Σ_h Σ_{t ≥ s} P[t][s]·(dout[t]·v[s] − D[t])·q[t]/√hd,
   with P[t][s] = exp(q[t]·k[s]/√hd − lse[t]) recomputed. One key tile per block; the group's heads in order, each over
   the query tiles from the diagonal on. Block index → (b, kv head, key tile), the heaviest (first) tiles first. */
template <int NC>
static __global__ void __launch_bounds__(ATT_THREADS)
attention_backward_dkdv_kernel(float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v,
                               const float *lse, const float *D, int64_t T, int n_head, int group, int hd, int64_t n_bk,
                               float scale) {
    extern __shared__ float smem[];
    const int ks = att_odd_stride(hd);
    float *Ks = smem;                        /* [TILE][hd]  read by all lanes at one address */
    float *Vs = Ks + ATT_TILE * hd;          /* [TILE][hd]  likewise */
    float *Qs = Vs + ATT_TILE * hd;          /* [TILE][ks]  read lane-per-query and lane-per-dim */
    float *dOs = Qs + ATT_TILE * ks;         /* [TILE][ks]  likewise */
    float *lse_s = dOs + ATT_TILE * ks;      /* [TILE] */
    float *D_s = lse_s + ATT_TILE;           /* [TILE] */
    const int n_head_kv = n_head / group;
    const int64_t bk = (int64_t)blockIdx.x % n_bk, kt = (int64_t)blockIdx.x / n_bk;
    const int64_t b = bk / n_head_kv;
    const int hk = (int)(bk % n_head_kv);
    const int64_t q_row = (int64_t)n_head * hd, kv_row = (int64_t)n_head_kv * hd;
    const int64_t s0 = kt * ATT_TILE;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    att_load_tile(Ks, hd, k + b * T * kv_row + (int64_t)hk * hd, kv_row, s0, T, hd);
    att_load_tile(Vs, hd, v + b * T * kv_row + (int64_t)hk * hd, kv_row, s0, T, hd);

    float dk_acc[ATT_ROWS][NC], dv_acc[ATT_ROWS][NC];
    for (int i = 0; i < ATT_ROWS; i++)
        for (int c = 0; c < NC; c++) dk_acc[i][c] = dv_acc[i][c] = 0.0f;

    for (int hh = 0; hh < group; hh++) {
        const int h = hk * group + hh;
        const float *qb = q + b * T * q_row + (int64_t)h * hd;
        const float *dob = dout + b * T * q_row + (int64_t)h * hd;
        const float *lse_h = lse + (b * n_head + h) * T, *D_h = D + (b * n_head + h) * T;
        /* queries t ≥ s ≥ s0: the query tiles start at the key tile's own start (both tiles are ATT_TILE long) */
        for (int64_t q0 = s0; q0 < T; q0 += ATT_TILE) {
            __syncthreads(); /* the previous query tile's readers are done (the first time: Ks, Vs complete below) */
            att_load_tile(Qs, ks, qb, q_row, q0, T, hd);
            att_load_tile(dOs, ks, dob, q_row, q0, T, hd);
            if (threadIdx.x < ATT_TILE) {
                const int64_t t = q0 + threadIdx.x;
                lse_s[threadIdx.x] = t < T ? lse_h[t] : 0.0f;
                D_s[threadIdx.x] = t < T ? D_h[t] : 0.0f;
            }
            __syncthreads();
            /* lane = query t: sc[i] = q[t]·k[row i], dp[i] = dout[t]·v[row i] */
            const int64_t t = q0 + lane;
            float sc[ATT_ROWS], dp[ATT_ROWS];
            for (int i = 0; i < ATT_ROWS; i++) sc[i] = dp[i] = 0.0f;
            for (int d = 0; d < hd; d++) {
                const float qd = Qs[lane * ks + d], od = dOs[lane * ks + d];
                for (int i = 0; i < ATT_ROWS; i++) {
                    sc[i] += qd * Ks[(warp * ATT_ROWS + i) * hd + d];
                    dp[i] += od * Vs[(warp * ATT_ROWS + i) * hd + d];
                }
            }
            /* P = exp(score − lse) where query t sees key s (s ≤ t < T), else 0; dS = P·(dP − D) */
            for (int i = 0; i < ATT_ROWS; i++) {
                const int64_t s = s0 + warp * ATT_ROWS + i;
                const bool seen = t < T && s <= t;
                const float p = seen ? expf(sc[i] * scale - lse_s[lane]) : 0.0f;
                dp[i] = seen ? p * (dp[i] - D_s[lane]) : 0.0f;
                sc[i] = p;
            }
            /* dv[i][d] += Σ_t P[t][i]·dout[t][d];  dk[i][d] += Σ_t dS[t][i]·q[t][d]  (queries in order) */
            for (int jj = 0; jj < ATT_TILE; jj++) {
                float qj[NC], oj[NC];
                for (int c = 0; c < NC; c++) {
                    const int d = lane + 32 * c;
                    qj[c] = d < hd ? Qs[jj * ks + d] : 0.0f;
                    oj[c] = d < hd ? dOs[jj * ks + d] : 0.0f;
                }
                for (int i = 0; i < ATT_ROWS; i++) {
                    const float pj = __shfl_sync(ATT_FULL, sc[i], jj);
                    const float dsj = __shfl_sync(ATT_FULL, dp[i], jj);
                    for (int c = 0; c < NC; c++) {
                        dv_acc[i][c] += pj * oj[c];
                        dk_acc[i][c] += dsj * qj[c];
                    }
                }
            }
        }
    }
    for (int i = 0; i < ATT_ROWS; i++) {
        const int64_t s = s0 + warp * ATT_ROWS + i;
        if (s >= T) continue;
        float *dks = dk + (b * T + s) * kv_row + (int64_t)hk * hd, *dvs = dv + (b * T + s) * kv_row + (int64_t)hk * hd;
        for (int c = 0; c < NC; c++) {
            const int d = lane + 32 * c;
            if (d < hd) {
                dks[d] = dk_acc[i][c] * scale;
                dvs[d] = dv_acc[i][c];
            }
        }
    }
}

/* dq[t] = Σ_{s ≤ t} P[t][s]·(dout[t]·v[s] − D[t])·k[s]/√hd, P recomputed from lse. One query tile per block over the key
   tiles up to the diagonal. Block index → (query tile, b, h), the heaviest tiles first. */
template <int NC>
static __global__ void __launch_bounds__(ATT_THREADS)
attention_backward_dq_kernel(float *dq, const float *dout, const float *q, const float *k, const float *v,
                             const float *lse, const float *D, int64_t T, int n_head, int group, int hd, int64_t n_bh,
                             int64_t n_qt, float scale) {
    extern __shared__ float smem[];
    const int ks = att_odd_stride(hd);
    float *Qs = smem;                        /* [TILE][hd]  read by all lanes at one address */
    float *dOs = Qs + ATT_TILE * hd;         /* [TILE][hd]  likewise */
    float *Ks = dOs + ATT_TILE * hd;         /* [TILE][ks]  read lane-per-key and lane-per-dim */
    float *Vs = Ks + ATT_TILE * ks;          /* [TILE][ks]  read lane-per-key */
    float *lse_s = Vs + ATT_TILE * ks;       /* [TILE] */
    float *D_s = lse_s + ATT_TILE;           /* [TILE] */
    const int64_t bh = (int64_t)blockIdx.x % n_bh, qt = n_qt - 1 - (int64_t)blockIdx.x / n_bh;
    const int64_t b = bh / n_head;
    const int h = (int)(bh % n_head), hk = h / group;
    const int64_t q_row = (int64_t)n_head * hd, kv_row = (int64_t)(n_head / group) * hd;
    const int64_t t0 = qt * ATT_TILE;
    const float *kb = k + b * T * kv_row + (int64_t)hk * hd;
    const float *vb = v + b * T * kv_row + (int64_t)hk * hd;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    att_load_tile(Qs, hd, q + b * T * q_row + (int64_t)h * hd, q_row, t0, T, hd);
    att_load_tile(dOs, hd, dout + b * T * q_row + (int64_t)h * hd, q_row, t0, T, hd);
    if (threadIdx.x < ATT_TILE) {
        const int64_t t = t0 + threadIdx.x;
        lse_s[threadIdx.x] = t < T ? lse[bh * T + t] : 0.0f;
        D_s[threadIdx.x] = t < T ? D[bh * T + t] : 0.0f;
    }

    float dq_acc[ATT_ROWS][NC];
    for (int i = 0; i < ATT_ROWS; i++)
        for (int c = 0; c < NC; c++) dq_acc[i][c] = 0.0f;
    /* keys s ≤ t for the tile's last query t = min(t0 + TILE, T) − 1 */
    const int64_t n_keys = t0 + ATT_TILE < T ? t0 + ATT_TILE : T;
    for (int64_t k0 = 0; k0 < n_keys; k0 += ATT_TILE) {
        __syncthreads(); /* the previous key tile's readers are done (the first time: Qs, dOs, lse_s, D_s complete) */
        att_load_tile(Ks, ks, kb, kv_row, k0, T, hd);
        att_load_tile(Vs, ks, vb, kv_row, k0, T, hd);
        __syncthreads();
        /* lane = key j: sc[i] = q[row i]·k[j], dp[i] = dout[row i]·v[j] */
        const int64_t j = k0 + lane;
        float sc[ATT_ROWS], dp[ATT_ROWS];
        for (int i = 0; i < ATT_ROWS; i++) sc[i] = dp[i] = 0.0f;
        for (int d = 0; d < hd; d++) {
            const float kd = Ks[lane * ks + d], vd = Vs[lane * ks + d];
            for (int i = 0; i < ATT_ROWS; i++) {
                sc[i] += Qs[(warp * ATT_ROWS + i) * hd + d] * kd;
                dp[i] += dOs[(warp * ATT_ROWS + i) * hd + d] * vd;
            }
        }
        /* dS = P·(dP − D) where query t sees key j (j ≤ t < T), else 0 */
        for (int i = 0; i < ATT_ROWS; i++) {
            const int r = warp * ATT_ROWS + i;
            const int64_t t = t0 + r;
            const bool seen = t < T && j <= t;
            const float p = seen ? expf(sc[i] * scale - lse_s[r]) : 0.0f;
            dp[i] = seen ? p * (dp[i] - D_s[r]) : 0.0f;
        }
        /* dq[i][d] += Σ_j dS[i][j]·k[j][d]  (keys in order) */
        for (int jj = 0; jj < ATT_TILE; jj++) {
            float kj[NC];
            for (int c = 0; c < NC; c++) {
                const int d = lane + 32 * c;
                kj[c] = d < hd ? Ks[jj * ks + d] : 0.0f;
            }
            for (int i = 0; i < ATT_ROWS; i++) {
                const float dsj = __shfl_sync(ATT_FULL, dp[i], jj);
                for (int c = 0; c < NC; c++) dq_acc[i][c] += dsj * kj[c];
            }
        }
    }
    for (int i = 0; i < ATT_ROWS; i++) {
        const int64_t t = t0 + warp * ATT_ROWS + i;
        if (t >= T) continue;
        float *dqt = dq + (b * T + t) * q_row + (int64_t)h * hd;
        for (int c = 0; c < NC; c++) {
            const int d = lane + 32 * c;
            if (d < hd) dqt[d] = dq_acc[i][c] * scale;
        }
    }
}

/* ---- launchers ---- */

/* Dynamic shared memory of the kernels (floats → bytes). */
static size_t att_forward_smem(int hd) {
    return sizeof(float) * (size_t)ATT_TILE * (size_t)(2 * hd + att_odd_stride(hd));
}
static size_t att_backward_smem(int hd) { /* the same for dK/dV and dQ */
    return sizeof(float) * ((size_t)ATT_TILE * (size_t)(2 * hd + 2 * att_odd_stride(hd)) + 2 * ATT_TILE);
}

/* Lets kernel use bytes of dynamic shared memory (beyond 48 KB it must opt in), or says the device has too little. */
static int32_t att_shared_opt_in(const void *kernel, size_t bytes, int hd, const char *what) {
    if (bytes <= 48 * 1024) return PL_OK;
    int dev = 0, max_optin = 0;
    PLC_CUDA(cudaGetDevice(&dev), what);
    PLC_CUDA(cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev), what);
    if ((size_t)max_optin < bytes)
        return PLC_FAIL(PL_ERR_UNSUPPORTED, "%s: head_dim %d needs %zu bytes of shared memory per block, device %d allows %d",
                        what, hd, bytes, dev, max_optin);
    PLC_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes), what);
    return PL_OK;
}

/* The shape checks both directions share: 1 ≤ hd ≤ 256, whole groups, ints where the kernels keep ints. */
static int32_t att_check(int64_t n_head, int64_t n_head_kv, int64_t hd, const char *what) {
    if (hd < 1 || hd > ATT_MAX_HD)
        return PLC_FAIL(PL_ERR_UNSUPPORTED, "%s: head_dim %lld (the CUDA kernels take 1 to %d)", what, (long long)hd,
                        ATT_MAX_HD);
    if (n_head < 1 || n_head_kv < 1 || n_head % n_head_kv != 0 || n_head > INT_MAX)
        return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "%s: %lld query heads over %lld K/V heads", what, (long long)n_head,
                        (long long)n_head_kv);
    return PL_OK;
}

/* A 1-D grid of n blocks, or an error when it passes the grid's x limit. */
static int32_t att_grid(int64_t n, const char *what) {
    if (n > INT_MAX) return PLC_FAIL(PL_ERR_UNSUPPORTED, "%s: %lld thread blocks exceed a grid", what, (long long)n);
    return PL_OK;
}

template <int NC>
static int32_t att_forward_launch(float *out, float *lse, const float *q, const float *k, const float *v, int64_t B,
                                  int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t hd,
                                  int64_t kv_stride, cudaStream_t s) {
    const int64_t n_bh = B * n_head, n_qt = (Tq + ATT_TILE - 1) / ATT_TILE;
    PLC_TRY(att_grid(n_bh * n_qt, "attention_forward"));
    const size_t smem = att_forward_smem((int)hd);
    PLC_TRY(att_shared_opt_in((const void *)attention_forward_kernel<NC>, smem, (int)hd, "attention_forward"));
    attention_forward_kernel<NC><<<(unsigned)(n_bh * n_qt), ATT_THREADS, smem, s>>>(
        out, lse, q, k, v, Tq, Tk, pos0, (int)n_head, (int)(n_head / n_head_kv), (int)hd, kv_stride, n_bh, n_qt,
        1.0f / sqrtf((float)hd));
    PLC_LAUNCHED("attention_forward");
    return PL_OK;
}

template <int NC>
static int32_t att_backward_launch(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                   const float *v, const float *lse, const float *D, int64_t B, int64_t T,
                                   int64_t n_head, int64_t n_head_kv, int64_t hd, cudaStream_t s) {
    const int64_t n_bh = B * n_head, n_bk = B * n_head_kv, n_t = (T + ATT_TILE - 1) / ATT_TILE;
    const int group = (int)(n_head / n_head_kv);
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t smem = att_backward_smem((int)hd);
    PLC_TRY(att_grid(n_bh * n_t, "attention_backward"));
    PLC_TRY(att_shared_opt_in((const void *)attention_backward_dkdv_kernel<NC>, smem, (int)hd, "attention_backward"));
    PLC_TRY(att_shared_opt_in((const void *)attention_backward_dq_kernel<NC>, smem, (int)hd, "attention_backward"));
    attention_backward_dkdv_kernel<NC><<<(unsigned)(n_bk * n_t), ATT_THREADS, smem, s>>>(
        dk, dv, dout, q, k, v, lse, D, T, (int)n_head, group, (int)hd, n_bk, scale);
    PLC_LAUNCHED("attention_backward (dk, dv)");
    attention_backward_dq_kernel<NC><<<(unsigned)(n_bh * n_t), ATT_THREADS, smem, s>>>(
        dq, dout, q, k, v, lse, D, T, (int)n_head, group, (int)hd, n_bh, n_t, scale);
    PLC_LAUNCHED("attention_backward (dq)");
    return PL_OK;
}

int32_t plc_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v, int64_t B,
                              int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t hd,
                              int64_t kv_stride, cudaStream_t s) {
    PLC_TRY(att_check(n_head, n_head_kv, hd, "attention_forward"));
    if (B <= 0 || Tq <= 0) return PL_OK;
    switch ((hd + 31) / 32) {
    case 1: return att_forward_launch<1>(out, lse, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_stride, s);
    case 2: return att_forward_launch<2>(out, lse, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_stride, s);
    case 3: return att_forward_launch<3>(out, lse, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_stride, s);
    case 4: return att_forward_launch<4>(out, lse, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_stride, s);
    case 5: return att_forward_launch<5>(out, lse, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_stride, s);
    case 6: return att_forward_launch<6>(out, lse, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_stride, s);
    case 7: return att_forward_launch<7>(out, lse, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_stride, s);
    default: return att_forward_launch<8>(out, lse, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_stride, s);
    }
}

int32_t plc_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                               const float *v, const float *out, const float *lse, float *scratch, int64_t B,
                               int64_t T, int64_t n_head, int64_t n_head_kv, int64_t hd, cudaStream_t s) {
    PLC_TRY(att_check(n_head, n_head_kv, hd, "attention_backward"));
    if (B <= 0 || T <= 0) return PL_OK;
    /* D = rowsum(dout ⊙ out) into scratch [B][n_head][T] */
    const int64_t n_rows = B * T * n_head;
    PLC_TRY(att_grid((n_rows + ATT_WARPS - 1) / ATT_WARPS, "attention_backward"));
    attention_backward_d_kernel<<<(unsigned)((n_rows + ATT_WARPS - 1) / ATT_WARPS), ATT_THREADS, 0, s>>>(
        scratch, dout, out, n_rows, T, (int)n_head, (int)hd);
    PLC_LAUNCHED("attention_backward (D)");
    switch ((hd + 31) / 32) {
    case 1: return att_backward_launch<1>(dq, dk, dv, dout, q, k, v, lse, scratch, B, T, n_head, n_head_kv, hd, s);
    case 2: return att_backward_launch<2>(dq, dk, dv, dout, q, k, v, lse, scratch, B, T, n_head, n_head_kv, hd, s);
    case 3: return att_backward_launch<3>(dq, dk, dv, dout, q, k, v, lse, scratch, B, T, n_head, n_head_kv, hd, s);
    case 4: return att_backward_launch<4>(dq, dk, dv, dout, q, k, v, lse, scratch, B, T, n_head, n_head_kv, hd, s);
    case 5: return att_backward_launch<5>(dq, dk, dv, dout, q, k, v, lse, scratch, B, T, n_head, n_head_kv, hd, s);
    case 6: return att_backward_launch<6>(dq, dk, dv, dout, q, k, v, lse, scratch, B, T, n_head, n_head_kv, hd, s);
    case 7: return att_backward_launch<7>(dq, dk, dv, dout, q, k, v, lse, scratch, B, T, n_head, n_head_kv, hd, s);
    default: return att_backward_launch<8>(dq, dk, dv, dout, q, k, v, lse, scratch, B, T, n_head, n_head_kv, hd, s);
    }
}
