/* Causal grouped-query attention on the device, flash-style: no T×T matrix is ever stored. The twin of
   src/ops/attention.c. F32 inputs, F32 math on CUDA cores (the first, correctness-first version, below); further down, the
   same three-kernel structure on tensor cores (BF16 operands, F32 accumulation; sm_80+), which use_bf16 selects where
   hd is a multiple of 16 and the device has the shared memory for it. The F32 kernels stay as the reference and the
   fallback.

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
#include <mma.h>
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

/* ---- the tensor-core path: BF16 operands, F32 accumulation (sm_80+) ----

   The same three products per direction as above, on tensor cores through nvcuda::wmma (16×16×16 BF16 tiles, F32
   accumulators); the F32 kernels above stay as the reference and the fallback. Q, K, V and dO stay F32 in memory and are
   rounded to BF16 (round to nearest even) as their tiles are copied into shared memory. Score tiles S = Q·Kᵀ and
   dP = dO·Vᵀ are stored as F32 to shared memory, where the lanes apply the mask, the softmax (online in the forward, from
   lse in the backward) and dS = P·(dP − D) in F32, then round P or dS to BF16 in shared memory as the A operand of the
   next product. Only the documented wmma calls are used and the fragment element layout is never relied on: per-row
   work on an accumulator (the online rescale, the final 1/l or 1/√hd, keeping rows past T out of memory) goes through
   shared memory (store_matrix_sync, lanes, load_matrix_sync).

   A block has ATT_TC_WARPS = 4 warps and a tile of ATT_TC_ROWS = 64 rows of its own (queries in the forward and dQ
   kernels, keys in the dK/dV kernel), 16 per warp; the partner tile (keys, or queries in dK/dV) has BN = 64 or 32 rows
   (32 where 64 does not fit the device's shared memory). A warp keeps the accumulators of its 16 rows in registers as
   NF ≤ 8 fragments of 16 output dims: for hd ≤ 128 one block covers all of hd, for hd > 128 n_split = 2 blocks share
   a tile, each producing its half of the output dims (both compute the same scores: same code, same bits). The lanes
   share out the elementwise work of a warp's 16 rows as lane = 2·row + half (half: which half of the partner tile),
   each walking its half from a lane-dependent start so that the 32 lanes of a warp hit 32 different banks. Every
   reduction runs in a fixed order and there are no atomics: results are bit-identical run to run. */
#define ATT_TC_ROWS 64                     /* rows of a block's own tile */
#define ATT_TC_WARPS 4                     /* 16 rows each */
#define ATT_TC_THREADS (ATT_TC_WARPS * 32) /* 128 */
#define ATT_TC_MAX_NF 8                    /* accumulator fragments (16 dims each) per warp and product */

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800 /* BF16 wmma needs sm_80; the launcher checks the device */
#define ATT_TC_DEVICE 1
#endif

namespace wmma = nvcuda::wmma;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> att_frag_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> att_frag_b_row;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> att_frag_b_col;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> att_frag_acc;

/* Row strides in shared memory (elements): BF16 rows of w elements pad by 8 (16 bytes), F32 score rows of BN by 4, so
   that every 16×16 tile a fragment reads or writes starts 32-byte aligned and the ldm rules hold (multiples of 8 / 4). */
static __host__ __device__ __forceinline__ int att_tc_ldh(int w) { return w + 8; }
static __host__ __device__ __forceinline__ int att_tc_lds(int bn) { return bn + 4; }

#ifdef ATT_TC_DEVICE
/* Copies rows [r0, r0 + rows) and columns [0, w) of a [n][row] F32 matrix (column offset already in src) into a BF16
   tile at stride ld, rounding to nearest even; rows ≥ n become zeros (finite: a masked P of 0 times them stays 0).
   Called by all threads of the block. */
static __device__ __forceinline__ void att_tc_load(bf16 *tile, int ld, const float *src, int64_t row, int64_t r0,
                                                   int64_t n, int rows, int w) {
    for (int i = threadIdx.x; i < rows * w; i += ATT_TC_THREADS) {
        const int r = i / w, d = i - r * w;
        const int64_t t = r0 + r;
        tile[r * ld + d] = __float2bfloat16_rn(t < n ? src[t * row + d] : 0.0f);
    }
}

/* dst[16][BN] (F32, stride ld) = A[16][hd] · B[BN][hd]ᵀ with A and B BF16 tiles at stride ldh: the warp's rows of a
   score tile. hd outer, so that each A fragment is loaded once. Called by the whole warp. */
template <int BN>
static __device__ __forceinline__ void att_tc_scores(float *dst, int ld, const bf16 *A, const bf16 *B, int ldh, int hd) {
    att_frag_acc s[BN / 16];
#pragma unroll
    for (int j = 0; j < BN / 16; j++) wmma::fill_fragment(s[j], 0.0f);
    for (int d = 0; d < hd; d += 16) {
        att_frag_a a;
        wmma::load_matrix_sync(a, A + d, ldh);
#pragma unroll
        for (int j = 0; j < BN / 16; j++) {
            att_frag_b_col bt; /* Bᵀ[d][j] = B[j][d]: B's rows read column-major */
            wmma::load_matrix_sync(bt, B + 16 * j * ldh + d, ldh);
            wmma::mma_sync(s[j], a, bt, s[j]);
        }
    }
#pragma unroll
    for (int j = 0; j < BN / 16; j++) wmma::store_matrix_sync(dst + 16 * j, s[j], ld, wmma::mem_row_major);
}

/* acc[c] += A[16][BN] · B[BN][16·(c0 + c)…] for the warp's first nf ≤ NF fragments: A a BF16 tile at stride lda (P or dS),
   B a BF16 tile at stride ldb already offset to the block's first output dim. Called by the whole warp. */
template <int NF, int BN>
static __device__ __forceinline__ void att_tc_accumulate(att_frag_acc *acc, int nf, const bf16 *A, int lda, const bf16 *B,
                                                         int ldb) {
#pragma unroll
    for (int j = 0; j < BN / 16; j++) {
        att_frag_a a;
        wmma::load_matrix_sync(a, A + 16 * j, lda);
#pragma unroll
        for (int c = 0; c < NF; c++) {
            if (c < nf) {
                att_frag_b_row bm;
                wmma::load_matrix_sync(bm, B + 16 * j * ldb + 16 * c, ldb);
                wmma::mma_sync(acc[c], a, bm, acc[c]);
            }
        }
    }
}

/* Multiplies row r of the warp's accumulators acc[0, nf) by f, the value lanes 2r and 2r+1 hold, through the warp's 16
   rows of an F32 scratch at stride ld ≥ 16·G (G = BN/16 fragments at a time): store, scale, load back. */
template <int NF, int BN>
static __device__ __forceinline__ void att_tc_scale_rows(att_frag_acc *acc, int nf, float *scr, int ld, float f, int lane) {
    constexpr int G = BN / 16;
    const int r = lane >> 1, half = lane & 1;
#pragma unroll
    for (int g = 0; g < NF; g += G) {
        if (g < nf) {
            const int w = 8 * (nf - g < G ? nf - g : G); /* columns per lane: half of the group's */
            __syncwarp();                                 /* the scratch's previous readers are done */
#pragma unroll
            for (int c = g; c < g + G; c++)
                if (c < NF && c < nf) wmma::store_matrix_sync(scr + 16 * (c - g), acc[c], ld, wmma::mem_row_major);
            __syncwarp();
            float *p = scr + r * ld + half * w;
            for (int e = 0; e < w; e++) p[e] *= f;
            __syncwarp();
#pragma unroll
            for (int c = g; c < g + G; c++)
                if (c < NF && c < nf) wmma::load_matrix_sync(acc[c], scr + 16 * (c - g), ld, wmma::mem_row_major);
        }
    }
}

/* Writes row r of the warp's accumulators acc[0, nf) times f to dst (the row's first output dim in memory; NULL: a row
   past the end, not written), f and dst being what lanes 2r and 2r+1 hold, through the F32 scratch as above. */
template <int NF, int BN>
static __device__ __forceinline__ void att_tc_write_rows(const att_frag_acc *acc, int nf, float *scr, int ld, float f,
                                                         float *dst, int lane) {
    constexpr int G = BN / 16;
    const int r = lane >> 1, half = lane & 1;
#pragma unroll
    for (int g = 0; g < NF; g += G) {
        if (g < nf) {
            const int w = 8 * (nf - g < G ? nf - g : G);
            __syncwarp();
#pragma unroll
            for (int c = g; c < g + G; c++)
                if (c < NF && c < nf) wmma::store_matrix_sync(scr + 16 * (c - g), acc[c], ld, wmma::mem_row_major);
            __syncwarp();
            if (dst) {
                const float *p = scr + r * ld + half * w;
                float *o = dst + 16 * g + half * w;
                for (int e = 0; e < w; e++) o[e] = p[e] * f;
            }
        }
    }
}

/* The first column of its half of the partner tile a lane visits (it walks the half cyclically from there): lanes
   (2r + half) start at banks 4r + 2·half + (r ≥ 8) apart, given score rows of stride ≡ 4 (mod 32) floats. */
static __device__ __forceinline__ int att_tc_rot(int lane) { return (lane & 1) * 2 + ((lane >> 4) & 1); }
#endif

/* out[t] = Σ_{s ≤ pos0+t, s < Tk} softmax_s(q[t]·k[s]/√hd)·v[s] as attention_forward_kernel, on tensor cores: one query
   tile of 64 per block (times n_split output-dim halves), online softmax over key tiles of BN. Block index →
   (query tile, b, h, split), the heaviest tiles first. */
template <int NF, int BN>
static __global__ void __launch_bounds__(ATT_TC_THREADS, 2)
attention_tc_forward_kernel(float *out, float *lse, const float *q, const float *k, const float *v, int64_t Tq,
                            int64_t Tk, int64_t pos0, int n_head, int group, int hd, int64_t kv_stride, int64_t n_bh,
                            int64_t n_qt, int n_split, float scale) {
#ifdef ATT_TC_DEVICE
    extern __shared__ __align__(128) float smem[];
    const int ldh = att_tc_ldh(hd), ldv = att_tc_ldh(NF * 16), lds = att_tc_lds(BN), ldp = att_tc_ldh(BN);
    bf16 *Qs = (bf16 *)smem;                       /* [64][ldh] */
    bf16 *Ks = Qs + ATT_TC_ROWS * ldh;             /* [BN][ldh] */
    bf16 *Vs = Ks + BN * ldh;                      /* [BN][ldv]  the block's output dims only */
    float *Ss = (float *)(Vs + BN * ldv);          /* [64][lds]  scores, then the rescale / output scratch */
    bf16 *Ps = (bf16 *)(Ss + ATT_TC_ROWS * lds);   /* [64][ldp] */
    const int split = (int)(blockIdx.x % (unsigned)n_split);
    const int64_t idx = (int64_t)(blockIdx.x / (unsigned)n_split);
    const int64_t bh = idx % n_bh, qt = n_qt - 1 - idx / n_bh;
    const int64_t b = bh / n_head;
    const int h = (int)(bh % n_head), hk = h / group;
    const int64_t q_row = (int64_t)n_head * hd, kv_row = (int64_t)(n_head / group) * hd;
    const int64_t t0 = qt * ATT_TC_ROWS;
    const int c0 = split * NF, nf = hd / 16 - c0 < NF ? hd / 16 - c0 : NF; /* this block's output fragments */
    const float *kb = k + b * kv_stride + (int64_t)hk * hd;
    const float *vb = v + b * kv_stride + (int64_t)hk * hd;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = warp * 16 + (lane >> 1), half = lane & 1, rot = att_tc_rot(lane);
    const int64_t t = t0 + row;                    /* this lane's query */

    att_tc_load(Qs, ldh, q + b * Tq * q_row + (int64_t)h * hd, q_row, t0, Tq, ATT_TC_ROWS, hd);

    att_frag_acc o[NF];
#pragma unroll
    for (int c = 0; c < NF; c++) wmma::fill_fragment(o[c], 0.0f);
    float m = -INFINITY, l = 0.0f; /* the running max and sum of this lane's row (both lanes of a row agree) */
    const int64_t t_last = (t0 + ATT_TC_ROWS < Tq ? t0 + ATT_TC_ROWS : Tq) - 1;
    const int64_t n_keys = pos0 + t_last + 1 < Tk ? pos0 + t_last + 1 : Tk;
    for (int64_t k0 = 0; k0 < n_keys; k0 += BN) {
        __syncthreads(); /* the previous tile's readers are done (and, the first time, Qs is complete below) */
        att_tc_load(Ks, ldh, kb, kv_row, k0, Tk, BN, hd);
        att_tc_load(Vs, ldv, vb + 16 * c0, kv_row, k0, Tk, BN, 16 * nf);
        __syncthreads();
        att_tc_scores<BN>(Ss + warp * 16 * lds, lds, Qs + warp * 16 * ldh, Ks, ldh, hd);
        __syncwarp();
        /* the lane's half row: x = s/√hd where query t sees key j, else −∞; m_new = max(m, row max) */
        float *srow = Ss + row * lds + half * (BN / 2);
        bf16 *prow = Ps + row * ldp + half * (BN / 2);
        const int64_t j0 = k0 + half * (BN / 2);
        float mx = -INFINITY;
        for (int jj = 0; jj < BN / 2; jj++) {
            const int e = (jj + rot) & (BN / 2 - 1);
            const int64_t j = j0 + e;
            const float x = j < Tk && j <= pos0 + t ? srow[e] * scale : -INFINITY;
            srow[e] = x;
            mx = fmaxf(mx, x);
        }
        mx = fmaxf(mx, __shfl_xor_sync(ATT_FULL, mx, 1));
        /* online softmax (as in the F32 kernel): P = exp(x − m_new) rounded to BF16, l summed from the F32 values */
        const float m_new = fmaxf(m, mx);
        const float m_ref = m_new == -INFINITY ? 0.0f : m_new;
        float sum = 0.0f;
        for (int jj = 0; jj < BN / 2; jj++) {
            const int e = (jj + rot) & (BN / 2 - 1);
            const float p = expf(srow[e] - m_ref);
            sum += p;
            prow[e] = __float2bfloat16_rn(p);
        }
        sum += __shfl_xor_sync(ATT_FULL, sum, 1);
        const float alpha = expf(m - m_ref);
        l = l * alpha + sum;
        m = m_new;
        /* o *= alpha row by row (skipped when no row of the warp changed its max: alpha = 1 exactly) */
        if (__any_sync(ATT_FULL, alpha != 1.0f)) att_tc_scale_rows<NF, BN>(o, nf, Ss + warp * 16 * lds, lds, alpha, lane);
        __syncwarp(); /* P is complete */
        att_tc_accumulate<NF, BN>(o, nf, Ps + warp * 16 * ldp, ldp, Vs, ldv);
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f; /* l = 0 only for a query that sees no key */
    att_tc_write_rows<NF, BN>(o, nf, Ss + warp * 16 * lds, lds, inv,
                              t < Tq ? out + (b * Tq + t) * q_row + (int64_t)h * hd + 16 * c0 : nullptr, lane);
    if (lse && split == 0 && half == 0 && t < Tq) lse[bh * Tq + t] = l > 0.0f ? m + logf(l) : -INFINITY;
#endif
}

/* dv[s] = Σ_{h of the group} Σ_{t ≥ s} P[t][s]·dout[t];  dk[s] = Σ_h Σ_{t ≥ s} P[t][s]·(dout[t]·v[s] − D[t])·q[t]/√hd as
   attention_backward_dkdv_kernel, on tensor cores: one key tile of 64 per block (times n_split), the group's heads in
   order, each over the query tiles of BN from the key tile's start. Per query tile a warp forms Sᵀ = K·Qᵀ and
   dPᵀ = V·dOᵀ for its 16 keys, then Pᵀ (BF16) for dV += Pᵀ·dO, then dSᵀ (BF16, in the same buffer) for dK += dSᵀ·Q.
   Block index → (b, kv head, key tile, split), the heaviest (first) tiles first. */
template <int NF, int BN>
static __global__ void __launch_bounds__(ATT_TC_THREADS, 2)
attention_tc_backward_dkdv_kernel(float *dk, float *dv, const float *dout, const float *q, const float *k,
                                  const float *v, const float *lse, const float *D, int64_t T, int n_head, int group,
                                  int hd, int64_t n_bk, int n_split, float scale) {
#ifdef ATT_TC_DEVICE
    extern __shared__ __align__(128) float smem[];
    const int ldh = att_tc_ldh(hd), lds = att_tc_lds(BN), ldp = att_tc_ldh(BN);
    bf16 *Ks = (bf16 *)smem;                       /* [64][ldh] */
    bf16 *Vs = Ks + ATT_TC_ROWS * ldh;             /* [64][ldh] */
    bf16 *Qs = Vs + ATT_TC_ROWS * ldh;             /* [BN][ldh] */
    bf16 *dOs = Qs + BN * ldh;                     /* [BN][ldh] */
    float *Ss = (float *)(dOs + BN * ldh);         /* [64][lds]  Sᵀ, then the output scratch */
    float *dPs = Ss + ATT_TC_ROWS * lds;           /* [64][lds]  dPᵀ, then dSᵀ in F32 */
    bf16 *Ps = (bf16 *)(dPs + ATT_TC_ROWS * lds);  /* [64][ldp]  Pᵀ, then dSᵀ in BF16 */
    float *lse_s = (float *)(Ps + ATT_TC_ROWS * ldp); /* [BN] */
    float *D_s = lse_s + BN;                       /* [BN] */
    const int n_head_kv = n_head / group;
    const int split = (int)(blockIdx.x % (unsigned)n_split);
    const int64_t idx = (int64_t)(blockIdx.x / (unsigned)n_split);
    const int64_t bk = idx % n_bk, kt = idx / n_bk;
    const int64_t b = bk / n_head_kv;
    const int hk = (int)(bk % n_head_kv);
    const int64_t q_row = (int64_t)n_head * hd, kv_row = (int64_t)n_head_kv * hd;
    const int64_t s0 = kt * ATT_TC_ROWS;
    const int c0 = split * NF, nf = hd / 16 - c0 < NF ? hd / 16 - c0 : NF;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = warp * 16 + (lane >> 1), half = lane & 1, rot = att_tc_rot(lane);
    const int64_t s = s0 + row;                    /* this lane's key */

    att_tc_load(Ks, ldh, k + b * T * kv_row + (int64_t)hk * hd, kv_row, s0, T, ATT_TC_ROWS, hd);
    att_tc_load(Vs, ldh, v + b * T * kv_row + (int64_t)hk * hd, kv_row, s0, T, ATT_TC_ROWS, hd);

    att_frag_acc dk_acc[NF], dv_acc[NF];
#pragma unroll
    for (int c = 0; c < NF; c++) {
        wmma::fill_fragment(dk_acc[c], 0.0f);
        wmma::fill_fragment(dv_acc[c], 0.0f);
    }
    for (int hh = 0; hh < group; hh++) {
        const int h = hk * group + hh;
        const float *qb = q + b * T * q_row + (int64_t)h * hd;
        const float *dob = dout + b * T * q_row + (int64_t)h * hd;
        const float *lse_h = lse + (b * n_head + h) * T, *D_h = D + (b * n_head + h) * T;
        /* queries t ≥ s ≥ s0: the query tiles start at the key tile's own start (BN divides 64) */
        for (int64_t q0 = s0; q0 < T; q0 += BN) {
            __syncthreads(); /* the previous query tile's readers are done (the first time: Ks, Vs complete below) */
            att_tc_load(Qs, ldh, qb, q_row, q0, T, BN, hd);
            att_tc_load(dOs, ldh, dob, q_row, q0, T, BN, hd);
            if (threadIdx.x < BN) {
                const int64_t tq = q0 + threadIdx.x;
                lse_s[threadIdx.x] = tq < T ? lse_h[tq] : 0.0f;
                D_s[threadIdx.x] = tq < T ? D_h[tq] : 0.0f;
            }
            __syncthreads();
            att_tc_scores<BN>(Ss + warp * 16 * lds, lds, Ks + warp * 16 * ldh, Qs, ldh, hd);
            att_tc_scores<BN>(dPs + warp * 16 * lds, lds, Vs + warp * 16 * ldh, dOs, ldh, hd);
            __syncwarp();
            /* Pᵀ = exp(score − lse) where query t sees key s (s ≤ t < T), else 0; dSᵀ = P·(dP − D) kept in F32 */
            float *srow = Ss + row * lds + half * (BN / 2), *dprow = dPs + row * lds + half * (BN / 2);
            bf16 *prow = Ps + row * ldp + half * (BN / 2);
            for (int jj = 0; jj < BN / 2; jj++) {
                const int e = (jj + rot) & (BN / 2 - 1), tt = half * (BN / 2) + e;
                const int64_t tq = q0 + tt;
                const bool seen = tq < T && s <= tq;
                const float p = seen ? expf(srow[e] * scale - lse_s[tt]) : 0.0f;
                dprow[e] = seen ? p * (dprow[e] - D_s[tt]) : 0.0f;
                prow[e] = __float2bfloat16_rn(p);
            }
            __syncwarp(); /* Pᵀ is complete */
            att_tc_accumulate<NF, BN>(dv_acc, nf, Ps + warp * 16 * ldp, ldp, dOs + 16 * c0, ldh);
            __syncwarp(); /* Pᵀ's readers are done */
            for (int jj = 0; jj < BN / 2; jj++) {
                const int e = (jj + rot) & (BN / 2 - 1);
                prow[e] = __float2bfloat16_rn(dprow[e]);
            }
            __syncwarp(); /* dSᵀ is complete */
            att_tc_accumulate<NF, BN>(dk_acc, nf, Ps + warp * 16 * ldp, ldp, Qs + 16 * c0, ldh);
        }
    }
    float *dks = s < T ? dk + (b * T + s) * kv_row + (int64_t)hk * hd + 16 * c0 : nullptr;
    float *dvs = s < T ? dv + (b * T + s) * kv_row + (int64_t)hk * hd + 16 * c0 : nullptr;
    att_tc_write_rows<NF, BN>(dk_acc, nf, Ss + warp * 16 * lds, lds, scale, dks, lane);
    att_tc_write_rows<NF, BN>(dv_acc, nf, Ss + warp * 16 * lds, lds, 1.0f, dvs, lane);
#endif
}

/* dq[t] = Σ_{s ≤ t} P[t][s]·(dout[t]·v[s] − D[t])·k[s]/√hd as attention_backward_dq_kernel, on tensor cores: one query
   tile of 64 per block (times n_split) over the key tiles of BN up to the diagonal; per key tile a warp forms S = Q·Kᵀ
   and dP = dO·Vᵀ for its 16 queries, then dS (BF16) for dQ += dS·K. Block index → (query tile, b, h, split), the
   heaviest tiles first. */
template <int NF, int BN>
static __global__ void __launch_bounds__(ATT_TC_THREADS, 2)
attention_tc_backward_dq_kernel(float *dq, const float *dout, const float *q, const float *k, const float *v,
                                const float *lse, const float *D, int64_t T, int n_head, int group, int hd,
                                int64_t n_bh, int64_t n_qt, int n_split, float scale) {
#ifdef ATT_TC_DEVICE
    extern __shared__ __align__(128) float smem[];
    const int ldh = att_tc_ldh(hd), lds = att_tc_lds(BN), ldp = att_tc_ldh(BN);
    bf16 *Qs = (bf16 *)smem;                       /* [64][ldh] */
    bf16 *dOs = Qs + ATT_TC_ROWS * ldh;            /* [64][ldh] */
    bf16 *Ks = dOs + ATT_TC_ROWS * ldh;            /* [BN][ldh] */
    bf16 *Vs = Ks + BN * ldh;                      /* [BN][ldh] */
    float *Ss = (float *)(Vs + BN * ldh);          /* [64][lds]  S, then the output scratch */
    float *dPs = Ss + ATT_TC_ROWS * lds;           /* [64][lds] */
    bf16 *dSs = (bf16 *)(dPs + ATT_TC_ROWS * lds); /* [64][ldp] */
    float *lse_s = (float *)(dSs + ATT_TC_ROWS * ldp); /* [64] */
    float *D_s = lse_s + ATT_TC_ROWS;              /* [64] */
    const int split = (int)(blockIdx.x % (unsigned)n_split);
    const int64_t idx = (int64_t)(blockIdx.x / (unsigned)n_split);
    const int64_t bh = idx % n_bh, qt = n_qt - 1 - idx / n_bh;
    const int64_t b = bh / n_head;
    const int h = (int)(bh % n_head), hk = h / group;
    const int64_t q_row = (int64_t)n_head * hd, kv_row = (int64_t)(n_head / group) * hd;
    const int64_t t0 = qt * ATT_TC_ROWS;
    const int c0 = split * NF, nf = hd / 16 - c0 < NF ? hd / 16 - c0 : NF;
    const float *kb = k + b * T * kv_row + (int64_t)hk * hd;
    const float *vb = v + b * T * kv_row + (int64_t)hk * hd;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = warp * 16 + (lane >> 1), half = lane & 1, rot = att_tc_rot(lane);
    const int64_t t = t0 + row;                    /* this lane's query */

    att_tc_load(Qs, ldh, q + b * T * q_row + (int64_t)h * hd, q_row, t0, T, ATT_TC_ROWS, hd);
    att_tc_load(dOs, ldh, dout + b * T * q_row + (int64_t)h * hd, q_row, t0, T, ATT_TC_ROWS, hd);
    if (threadIdx.x < ATT_TC_ROWS) {
        const int64_t tq = t0 + threadIdx.x;
        lse_s[threadIdx.x] = tq < T ? lse[bh * T + tq] : 0.0f;
        D_s[threadIdx.x] = tq < T ? D[bh * T + tq] : 0.0f;
    }

    att_frag_acc dq_acc[NF];
#pragma unroll
    for (int c = 0; c < NF; c++) wmma::fill_fragment(dq_acc[c], 0.0f);
    /* keys s ≤ t for the tile's last query t = min(t0 + 64, T) − 1 */
    const int64_t n_keys = t0 + ATT_TC_ROWS < T ? t0 + ATT_TC_ROWS : T;
    for (int64_t k0 = 0; k0 < n_keys; k0 += BN) {
        __syncthreads(); /* the previous key tile's readers are done (the first time: Qs, dOs, lse_s, D_s complete) */
        att_tc_load(Ks, ldh, kb, kv_row, k0, T, BN, hd);
        att_tc_load(Vs, ldh, vb, kv_row, k0, T, BN, hd);
        __syncthreads();
        att_tc_scores<BN>(Ss + warp * 16 * lds, lds, Qs + warp * 16 * ldh, Ks, ldh, hd);
        att_tc_scores<BN>(dPs + warp * 16 * lds, lds, dOs + warp * 16 * ldh, Vs, ldh, hd);
        __syncwarp();
        /* dS = P·(dP − D) where query t sees key j (j ≤ t < T), else 0; rounded to BF16 */
        const float *srow = Ss + row * lds + half * (BN / 2), *dprow = dPs + row * lds + half * (BN / 2);
        bf16 *dsrow = dSs + row * ldp + half * (BN / 2);
        const float lse_t = lse_s[row], D_t = D_s[row];
        const int64_t j0 = k0 + half * (BN / 2);
        for (int jj = 0; jj < BN / 2; jj++) {
            const int e = (jj + rot) & (BN / 2 - 1);
            const int64_t j = j0 + e;
            const bool seen = t < T && j <= t;
            const float p = seen ? expf(srow[e] * scale - lse_t) : 0.0f;
            dsrow[e] = __float2bfloat16_rn(seen ? p * (dprow[e] - D_t) : 0.0f);
        }
        __syncwarp(); /* dS is complete */
        att_tc_accumulate<NF, BN>(dq_acc, nf, dSs + warp * 16 * ldp, ldp, Ks + 16 * c0, ldh);
    }
    att_tc_write_rows<NF, BN>(dq_acc, nf, Ss + warp * 16 * lds, lds, scale,
                              t < T ? dq + (b * T + t) * q_row + (int64_t)h * hd + 16 * c0 : nullptr, lane);
#endif
}

/* ---- launchers ---- */

/* Dynamic shared memory of the kernels (floats → bytes). */
static size_t att_forward_smem(int hd) {
    return sizeof(float) * (size_t)ATT_TILE * (size_t)(2 * hd + att_odd_stride(hd));
}
static size_t att_backward_smem(int hd) { /* the same for dK/dV and dQ */
    return sizeof(float) * ((size_t)ATT_TILE * (size_t)(2 * hd + 2 * att_odd_stride(hd)) + 2 * ATT_TILE);
}

/* Dynamic shared memory of the tensor-core kernels (bytes) for head dim hd, NF output fragments per warp and a partner
   tile of bn rows: BF16 operand tiles, F32 score tiles, the BF16 P / dS tile and (backward) lse and D. */
static size_t att_tc_forward_smem(int hd, int nf, int bn) {
    return 2 * (size_t)(ATT_TC_ROWS + bn) * att_tc_ldh(hd) + 2 * (size_t)bn * att_tc_ldh(16 * nf) +
           4 * (size_t)ATT_TC_ROWS * att_tc_lds(bn) + 2 * (size_t)ATT_TC_ROWS * att_tc_ldh(bn);
}
static size_t att_tc_dkdv_smem(int hd, int bn) {
    return 4 * (size_t)(ATT_TC_ROWS + bn) * att_tc_ldh(hd) + 8 * (size_t)ATT_TC_ROWS * att_tc_lds(bn) +
           2 * (size_t)ATT_TC_ROWS * att_tc_ldh(bn) + 8 * (size_t)bn;
}
static size_t att_tc_dq_smem(int hd, int bn) {
    return 4 * (size_t)(ATT_TC_ROWS + bn) * att_tc_ldh(hd) + 8 * (size_t)ATT_TC_ROWS * att_tc_lds(bn) +
           2 * (size_t)ATT_TC_ROWS * att_tc_ldh(bn) + 8 * (size_t)ATT_TC_ROWS;
}

/* How the tensor-core path runs at head dim hd (a multiple of 16, ≤ 256) on a device allowing max_smem bytes of shared
   memory per block: n_split blocks per tile, each with nf ≤ ATT_TC_MAX_NF output fragments (the first blocks full, the
   last the rest), and each kernel's partner tile: 64 where it fits, else 32, else 0 (the kernel does not fit: the F32
   path runs instead). */
typedef struct att_tc_plan {
    int nf, n_split, bn_fwd, bn_dkdv, bn_dq;
} att_tc_plan;
static att_tc_plan att_tc_plan_for(int hd, size_t max_smem) {
    att_tc_plan p;
    const int n16 = hd / 16;
    p.n_split = (n16 + ATT_TC_MAX_NF - 1) / ATT_TC_MAX_NF;
    p.nf = (n16 + p.n_split - 1) / p.n_split;
    p.bn_fwd = att_tc_forward_smem(hd, p.nf, 64) <= max_smem ? 64 : att_tc_forward_smem(hd, p.nf, 32) <= max_smem ? 32 : 0;
    p.bn_dkdv = att_tc_dkdv_smem(hd, 64) <= max_smem ? 64 : att_tc_dkdv_smem(hd, 32) <= max_smem ? 32 : 0;
    p.bn_dq = att_tc_dq_smem(hd, 64) <= max_smem ? 64 : att_tc_dq_smem(hd, 32) <= max_smem ? 32 : 0;
    return p;
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

/* ---- the tensor-core path's launchers ---- */

/* The plan of the tensor-core path at head dim hd on the current device; *ok = 0 where the path cannot run there (hd not
   a multiple of 16, a device below sm_80). */
static int32_t att_tc_device_plan(int64_t hd, att_tc_plan *plan, int *ok, const char *what) {
    *ok = 0;
    if (hd % 16 != 0 || hd < 16 || hd > ATT_MAX_HD) return PL_OK;
    int dev = 0, major = 0, max_optin = 0;
    PLC_CUDA(cudaGetDevice(&dev), what);
    PLC_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev), what);
    if (major < 8) return PL_OK;
    PLC_CUDA(cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev), what);
    *plan = att_tc_plan_for((int)hd, (size_t)max_optin);
    *ok = 1;
    return PL_OK;
}

template <int NF, int BN>
static int32_t att_tc_forward_launch(float *out, float *lse, const float *q, const float *k, const float *v, int64_t B,
                                     int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv,
                                     int64_t hd, int64_t kv_stride, int n_split, cudaStream_t s) {
    const int64_t n_bh = B * n_head, n_qt = (Tq + ATT_TC_ROWS - 1) / ATT_TC_ROWS;
    PLC_TRY(att_grid(n_bh * n_qt * n_split, "attention_forward"));
    const size_t smem = att_tc_forward_smem((int)hd, NF, BN);
    PLC_TRY(att_shared_opt_in((const void *)attention_tc_forward_kernel<NF, BN>, smem, (int)hd, "attention_forward"));
    attention_tc_forward_kernel<NF, BN><<<(unsigned)(n_bh * n_qt * n_split), ATT_TC_THREADS, smem, s>>>(
        out, lse, q, k, v, Tq, Tk, pos0, (int)n_head, (int)(n_head / n_head_kv), (int)hd, kv_stride, n_bh, n_qt, n_split,
        1.0f / sqrtf((float)hd));
    PLC_LAUNCHED("attention_forward (tensor cores)");
    return PL_OK;
}

template <int NF, int BN>
static int32_t att_tc_dkdv_launch(float *dk, float *dv, const float *dout, const float *q, const float *k,
                                  const float *v, const float *lse, const float *D, int64_t B, int64_t T, int64_t n_head,
                                  int64_t n_head_kv, int64_t hd, int n_split, cudaStream_t s) {
    const int64_t n_bk = B * n_head_kv, n_kt = (T + ATT_TC_ROWS - 1) / ATT_TC_ROWS;
    PLC_TRY(att_grid(n_bk * n_kt * n_split, "attention_backward"));
    const size_t smem = att_tc_dkdv_smem((int)hd, BN);
    PLC_TRY(att_shared_opt_in((const void *)attention_tc_backward_dkdv_kernel<NF, BN>, smem, (int)hd,
                              "attention_backward"));
    attention_tc_backward_dkdv_kernel<NF, BN><<<(unsigned)(n_bk * n_kt * n_split), ATT_TC_THREADS, smem, s>>>(
        dk, dv, dout, q, k, v, lse, D, T, (int)n_head, (int)(n_head / n_head_kv), (int)hd, n_bk, n_split,
        1.0f / sqrtf((float)hd));
    PLC_LAUNCHED("attention_backward (dk, dv; tensor cores)");
    return PL_OK;
}

template <int NF, int BN>
static int32_t att_tc_dq_launch(float *dq, const float *dout, const float *q, const float *k, const float *v,
                                const float *lse, const float *D, int64_t B, int64_t T, int64_t n_head,
                                int64_t n_head_kv, int64_t hd, int n_split, cudaStream_t s) {
    const int64_t n_bh = B * n_head, n_qt = (T + ATT_TC_ROWS - 1) / ATT_TC_ROWS;
    PLC_TRY(att_grid(n_bh * n_qt * n_split, "attention_backward"));
    const size_t smem = att_tc_dq_smem((int)hd, BN);
    PLC_TRY(att_shared_opt_in((const void *)attention_tc_backward_dq_kernel<NF, BN>, smem, (int)hd,
                              "attention_backward"));
    attention_tc_backward_dq_kernel<NF, BN><<<(unsigned)(n_bh * n_qt * n_split), ATT_TC_THREADS, smem, s>>>(
        dq, dout, q, k, v, lse, D, T, (int)n_head, (int)(n_head / n_head_kv), (int)hd, n_bh, n_qt, n_split,
        1.0f / sqrtf((float)hd));
    PLC_LAUNCHED("attention_backward (dq; tensor cores)");
    return PL_OK;
}

/* Calls LAUNCH<NF, BN>(args…) for the plan's nf (1 … ATT_TC_MAX_NF) and a partner tile bn of 64 or 32. */
#define ATT_TC_DISPATCH(LAUNCH, nf, bn, ...)                                                        \
    switch (nf) {                                                                                   \
    case 1: return (bn) == 64 ? LAUNCH<1, 64>(__VA_ARGS__) : LAUNCH<1, 32>(__VA_ARGS__);            \
    case 2: return (bn) == 64 ? LAUNCH<2, 64>(__VA_ARGS__) : LAUNCH<2, 32>(__VA_ARGS__);            \
    case 3: return (bn) == 64 ? LAUNCH<3, 64>(__VA_ARGS__) : LAUNCH<3, 32>(__VA_ARGS__);            \
    case 4: return (bn) == 64 ? LAUNCH<4, 64>(__VA_ARGS__) : LAUNCH<4, 32>(__VA_ARGS__);            \
    case 5: return (bn) == 64 ? LAUNCH<5, 64>(__VA_ARGS__) : LAUNCH<5, 32>(__VA_ARGS__);            \
    case 6: return (bn) == 64 ? LAUNCH<6, 64>(__VA_ARGS__) : LAUNCH<6, 32>(__VA_ARGS__);            \
    case 7: return (bn) == 64 ? LAUNCH<7, 64>(__VA_ARGS__) : LAUNCH<7, 32>(__VA_ARGS__);            \
    default: return (bn) == 64 ? LAUNCH<8, 64>(__VA_ARGS__) : LAUNCH<8, 32>(__VA_ARGS__);           \
    }

static int32_t att_tc_forward(const att_tc_plan *p, float *out, float *lse, const float *q, const float *k,
                              const float *v, int64_t B, int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head,
                              int64_t n_head_kv, int64_t hd, int64_t kv_stride, cudaStream_t s) {
    ATT_TC_DISPATCH(att_tc_forward_launch, p->nf, p->bn_fwd, out, lse, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd,
                    kv_stride, p->n_split, s)
}

static int32_t att_tc_dkdv(const att_tc_plan *p, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const float *lse, const float *D, int64_t B, int64_t T,
                           int64_t n_head, int64_t n_head_kv, int64_t hd, cudaStream_t s) {
    ATT_TC_DISPATCH(att_tc_dkdv_launch, p->nf, p->bn_dkdv, dk, dv, dout, q, k, v, lse, D, B, T, n_head, n_head_kv, hd,
                    p->n_split, s)
}

static int32_t att_tc_dq(const att_tc_plan *p, float *dq, const float *dout, const float *q, const float *k,
                         const float *v, const float *lse, const float *D, int64_t B, int64_t T, int64_t n_head,
                         int64_t n_head_kv, int64_t hd, cudaStream_t s) {
    ATT_TC_DISPATCH(att_tc_dq_launch, p->nf, p->bn_dq, dq, dout, q, k, v, lse, D, B, T, n_head, n_head_kv, hd,
                    p->n_split, s)
}

int32_t plc_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v, int64_t B,
                              int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t hd,
                              int64_t kv_stride, cudaStream_t s, int use_bf16) {
    PLC_TRY(att_check(n_head, n_head_kv, hd, "attention_forward"));
    if (B <= 0 || Tq <= 0) return PL_OK;
    if (use_bf16) {
        att_tc_plan p;
        int ok = 0;
        PLC_TRY(att_tc_device_plan(hd, &p, &ok, "attention_forward"));
        if (ok && p.bn_fwd) return att_tc_forward(&p, out, lse, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_stride, s);
    }
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
                               int64_t T, int64_t n_head, int64_t n_head_kv, int64_t hd, cudaStream_t s,
                               int use_bf16) {
    PLC_TRY(att_check(n_head, n_head_kv, hd, "attention_backward"));
    if (B <= 0 || T <= 0) return PL_OK;
    /* D = rowsum(dout ⊙ out) into scratch [B][n_head][T] */
    const int64_t n_rows = B * T * n_head;
    PLC_TRY(att_grid((n_rows + ATT_WARPS - 1) / ATT_WARPS, "attention_backward"));
    attention_backward_d_kernel<<<(unsigned)((n_rows + ATT_WARPS - 1) / ATT_WARPS), ATT_THREADS, 0, s>>>(
        scratch, dout, out, n_rows, T, (int)n_head, (int)hd);
    PLC_LAUNCHED("attention_backward (D)");
    if (use_bf16) {
        att_tc_plan p;
        int ok = 0;
        PLC_TRY(att_tc_device_plan(hd, &p, &ok, "attention_backward"));
        if (ok && p.bn_dkdv && p.bn_dq) {
            PLC_TRY(att_tc_dkdv(&p, dk, dv, dout, q, k, v, lse, scratch, B, T, n_head, n_head_kv, hd, s));
            return att_tc_dq(&p, dq, dout, q, k, v, lse, scratch, B, T, n_head, n_head_kv, hd, s);
        }
    }
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
