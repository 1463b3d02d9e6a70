/* Gradient checks of the backward kernels in src/ops: for each op, L = Σ r ⊙ out with r fixed random; the
   analytic gradient from <op>_backward is compared element by element with central differences of L, where L is
   accumulated in double over the float forward run on perturbed inputs. Also checks determinism (two runs and
   several thread counts bit-identical) and the in-place (aliasing) variants.
   Built from the op sources directly (not the panlora library): see CMakeLists.txt. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "ops/ops.h"
#include "quant/quant.h"

/* F32-only stand-ins for the codecs embedding_forward calls; the real ones (quant.c) win when linked. */
__attribute__((weak)) int64_t pl_type_block_elems(int32_t type) { return type == PL_TYPE_F32 ? 1 : 0; }
__attribute__((weak)) int64_t pl_type_block_bytes(int32_t type) { return type == PL_TYPE_F32 ? 4 : 0; }
__attribute__((weak)) void pl_dequant_row(int32_t type, const void *src, float *dst, int64_t n) {
    if (type == PL_TYPE_F32) memcpy(dst, src, (size_t)n * sizeof(float));
}

static int n_pass = 0, n_fail = 0;

static void expect(int ok, const char *what) {
    if (ok) n_pass++;
    else { n_fail++; printf("FAIL: %s\n", what); }
}

/* ---- random numbers (splitmix64) ---- */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static float *rand_vec(int64_t n, float amp) {
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = amp * frand();
    return v;
}
static float *copy_vec(const float *a, int64_t n) {
    float *v = malloc((size_t)n * sizeof(float));
    memcpy(v, a, (size_t)n * sizeof(float));
    return v;
}
static double dot_rd(const float *r, const float *o, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)r[i] * o[i];
    return s;
}
static int same_bits(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof(float)) == 0; }

/* ---- the finite-difference driver ---- */
typedef double (*loss_fn)(void *ctx);

/* Compares analytic[i] with (L(x+ε) − L(x−ε)) / (2ε) for every element of param; counts one check per element. */
static void fd_check(const char *name, float *param, int64_t n, const float *analytic, loss_fn loss, void *ctx, double eps) {
    double worst = 0.0;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const float x0 = param[i];
        const float xp = (float)(x0 + eps), xm = (float)(x0 - eps);
        param[i] = xp;
        const double lp = loss(ctx);
        param[i] = xm;
        const double lm = loss(ctx);
        param[i] = x0;
        const double num = (lp - lm) / ((double)xp - (double)xm);
        const double err = fabs((double)analytic[i] - num) / fmax(1.0, fabs(num));
        if (err > worst) worst = err;
        if (!(err <= 1e-3)) {
            if (bad < 5) printf("  %s[%lld]: analytic %.7g numeric %.7g\n", name, (long long)i, analytic[i], num);
            bad++;
            n_fail++;
        } else {
            n_pass++;
        }
    }
    printf("%-28s %4lld elements, max rel err %.2e%s\n", name, (long long)n, worst, bad ? "  <-- FAILED" : "");
}

/* ================= RMSNorm ================= */
typedef struct { float *x, *w, *r, *out; int64_t n_tok, dim; float eps; } rms_ctx;
static double rms_loss(void *p) {
    rms_ctx *c = p;
    rmsnorm_forward(c->out, NULL, c->x, c->w, c->n_tok, c->dim, c->eps);
    return dot_rd(c->r, c->out, c->n_tok * c->dim);
}

static void test_rmsnorm(void) {
    const int64_t T = 3, D = 7, n = T * D;
    rms_ctx c = { rand_vec(n, 2.0f), rand_vec(D, 1.5f), rand_vec(n, 1.0f), malloc(n * sizeof(float)), T, D, 1e-5f };
    float *rstd = malloc(T * sizeof(float));
    rmsnorm_forward(c.out, rstd, c.x, c.w, T, D, c.eps);
    float *dx0 = rand_vec(n, 1.0f), *dw0 = rand_vec(D, 1.0f);
    float *dx = copy_vec(dx0, n), *dw = copy_vec(dw0, D);
    rmsnorm_backward(dx, dw, c.r, c.x, c.w, rstd, T, D);
    for (int64_t i = 0; i < n; i++) dx[i] -= dx0[i]; /* it accumulates: take off the initial values */
    for (int64_t i = 0; i < D; i++) dw[i] -= dw0[i];
    fd_check("rmsnorm dx", c.x, n, dx, rms_loss, &c, 1e-2);
    fd_check("rmsnorm dw", c.w, D, dw, rms_loss, &c, 1e-2);
    /* dw = NULL leaves dx unchanged */
    float *dx2 = copy_vec(dx0, n), *dx3 = copy_vec(dx0, n), *dw3 = copy_vec(dw0, D);
    rmsnorm_backward(dx2, NULL, c.r, c.x, c.w, rstd, T, D);
    rmsnorm_backward(dx3, dw3, c.r, c.x, c.w, rstd, T, D);
    expect(same_bits(dx2, dx3, n), "rmsnorm: dx with dw = NULL equals dx with dw");
    free(c.x); free(c.w); free(c.r); free(c.out); free(rstd); free(dx0); free(dw0); free(dx); free(dw);
    free(dx2); free(dx3); free(dw3);

    /* determinism over runs and thread counts on a shape big enough to run in parallel */
    const int64_t T2 = 130, D2 = 300, n2 = T2 * D2;
    float *x = rand_vec(n2, 1.0f), *w = rand_vec(D2, 1.0f), *dout = rand_vec(n2, 1.0f), *out = malloc(n2 * sizeof(float));
    float *rs = malloc(T2 * sizeof(float));
    rmsnorm_forward(out, rs, x, w, T2, D2, 1e-6f);
    float *ref_dx = NULL, *ref_dw = NULL;
    const int threads[] = {1, 2, 3, 7, 1};
    for (int k = 0; k < 5; k++) {
        pl_set_num_threads(threads[k]);
        float *a = calloc(n2, sizeof(float)), *b = calloc(D2, sizeof(float));
        rmsnorm_backward(a, b, dout, x, w, rs, T2, D2);
        if (!ref_dx) { ref_dx = a; ref_dw = b; continue; }
        char msg[96];
        snprintf(msg, sizeof msg, "rmsnorm: bit-identical with %d threads", threads[k]);
        expect(same_bits(a, ref_dx, n2) && same_bits(b, ref_dw, D2), msg);
        free(a); free(b);
    }
    pl_set_num_threads(2);
    free(x); free(w); free(dout); free(out); free(rs); free(ref_dx); free(ref_dw);
}

/* ================= RoPE ================= */
typedef struct { float *x, *r, *out; int64_t B, T, pos0, H, hd, n_rot; int32_t type; } rope_ctx;
static double rope_loss(void *p) {
    rope_ctx *c = p;
    const int64_t n = c->B * c->T * c->H * c->hd;
    memcpy(c->out, c->x, (size_t)n * sizeof(float));
    rope_apply(c->out, c->B, c->T, c->pos0, c->H, c->hd, c->n_rot, 10000.0f, 1.0f, NULL, c->type, 1);
    return dot_rd(c->r, c->out, n);
}

static void test_rope(int32_t type, const char *name) {
    rope_ctx c = { NULL, NULL, NULL, 2, 3, 2, 2, 8, 4, type };
    const int64_t n = c.B * c.T * c.H * c.hd;
    c.x = rand_vec(n, 1.0f); c.r = rand_vec(n, 1.0f); c.out = malloc(n * sizeof(float));
    float *dx = copy_vec(c.r, n);
    rope_apply(dx, c.B, c.T, c.pos0, c.H, c.hd, c.n_rot, 10000.0f, 1.0f, NULL, type, -1); /* the backward */
    fd_check(name, c.x, n, dx, rope_loss, &c, 1e-2);
    free(c.x); free(c.r); free(c.out); free(dx);
}

/* ================= attention ================= */
typedef struct { float *q, *k, *v, *r, *out, *probs; int64_t B, T, H, KV, hd; } att_ctx;
static double att_loss(void *p) {
    att_ctx *c = p;
    attention_forward(c->out, NULL, c->q, c->k, c->v, c->B, c->T, c->T, 0, c->H, c->KV, c->hd, c->T * c->KV * c->hd);
    return dot_rd(c->r, c->out, c->B * c->T * c->H * c->hd);
}

/* Plain double reference of the backward from the same probs (the textbook formulas, no sharing of work). */
static void att_reference(double *dq, double *dk, double *dv, const float *dout, const float *q, const float *k,
                          const float *v, const float *probs, int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd) {
    const int64_t g = H / KV, qr = H * hd, kr = KV * hd;
    memset(dq, 0, (size_t)(B * T * qr) * sizeof(double));
    memset(dk, 0, (size_t)(B * T * kr) * sizeof(double));
    memset(dv, 0, (size_t)(B * T * kr) * sizeof(double));
    double *dp = malloc((size_t)T * sizeof(double));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                const int64_t hk = h / g;
                const float *P = probs + ((b * H + h) * T + t) * T;
                const float *o = dout + (b * T + t) * qr + h * hd, *qt = q + (b * T + t) * qr + h * hd;
                double D = 0.0;
                for (int64_t s = 0; s < T; s++) {
                    double acc = 0.0;
                    for (int64_t d = 0; d < hd; d++) acc += (double)o[d] * v[(b * T + s) * kr + hk * hd + d];
                    dp[s] = acc;
                    D += acc * P[s];
                }
                for (int64_t s = 0; s < T; s++) {
                    const double ds = P[s] * (dp[s] - D) / sqrt((double)hd);
                    for (int64_t d = 0; d < hd; d++) {
                        dq[(b * T + t) * qr + h * hd + d] += ds * k[(b * T + s) * kr + hk * hd + d];
                        dk[(b * T + s) * kr + hk * hd + d] += ds * qt[d];
                        dv[(b * T + s) * kr + hk * hd + d] += (double)P[s] * o[d];
                    }
                }
            }
    free(dp);
}

static int close_to(const float *a, const double *ref, int64_t n, double tol, double *worst) {
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        const double e = fabs((double)a[i] - ref[i]) / fmax(1.0, fabs(ref[i]));
        if (e > *worst) *worst = e;
        if (!(e <= tol)) ok = 0;
    }
    return ok;
}

static void test_attention(int64_t KV) {
    att_ctx c = { NULL, NULL, NULL, NULL, NULL, NULL, 2, 5, 4, KV, 6 };
    const int64_t nq = c.B * c.T * c.H * c.hd, nk = c.B * c.T * c.KV * c.hd;
    c.q = rand_vec(nq, 1.5f); c.k = rand_vec(nk, 1.5f); c.v = rand_vec(nk, 1.0f); c.r = rand_vec(nq, 1.0f);
    c.out = malloc(nq * sizeof(float)); c.probs = malloc(c.B * c.H * c.T * c.T * sizeof(float));
    attention_forward(c.out, c.probs, c.q, c.k, c.v, c.B, c.T, c.T, 0, c.H, c.KV, c.hd, c.T * c.KV * c.hd);
    float *dq = rand_vec(nq, 100.0f), *dk = rand_vec(nk, 100.0f), *dv = rand_vec(nk, 100.0f); /* garbage: overwritten */
    expect(attention_backward(dq, dk, dv, c.r, c.q, c.k, c.v, c.probs, c.B, c.T, c.H, c.KV, c.hd) == PL_OK, "attention_backward returns PL_OK");
    char name[64];
    snprintf(name, sizeof name, "attention dq (kv heads %lld)", (long long)KV); fd_check(name, c.q, nq, dq, att_loss, &c, 1e-2);
    snprintf(name, sizeof name, "attention dk (kv heads %lld)", (long long)KV); fd_check(name, c.k, nk, dk, att_loss, &c, 1e-2);
    snprintf(name, sizeof name, "attention dv (kv heads %lld)", (long long)KV); fd_check(name, c.v, nk, dv, att_loss, &c, 1e-2);
    free(c.q); free(c.k); free(c.v); free(c.r); free(c.out); free(c.probs); free(dq); free(dk); free(dv);
}

/* A bigger shape: against the double reference, and bit-identical over runs and thread counts (both schedules). */
static void test_attention_big(int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd) {
    const int64_t nq = B * T * H * hd, nk = B * T * KV * hd;
    float *q = rand_vec(nq, 1.5f), *k = rand_vec(nk, 1.5f), *v = rand_vec(nk, 1.0f), *dout = rand_vec(nq, 1.0f);
    float *out = malloc(nq * sizeof(float)), *probs = malloc(B * H * T * T * sizeof(float));
    attention_forward(out, probs, q, k, v, B, T, T, 0, H, KV, hd, T * KV * hd);
    double *rq = malloc(nq * sizeof(double)), *rk = malloc(nk * sizeof(double)), *rv = malloc(nk * sizeof(double));
    att_reference(rq, rk, rv, dout, q, k, v, probs, B, T, H, KV, hd);
    float *q0 = NULL, *k0 = NULL, *v0 = NULL;
    const int threads[] = {1, 2, 3, 5, 16, 64, 2};
    for (int i = 0; i < 7; i++) {
        pl_set_num_threads(threads[i]);
        float *dq = rand_vec(nq, 9.0f), *dk = rand_vec(nk, 9.0f), *dv = rand_vec(nk, 9.0f);
        attention_backward(dq, dk, dv, dout, q, k, v, probs, B, T, H, KV, hd);
        char msg[128];
        if (!q0) {
            double worst = 0.0;
            int ok = close_to(dq, rq, nq, 1e-4, &worst) & close_to(dk, rk, nk, 1e-4, &worst) & close_to(dv, rv, nk, 1e-4, &worst);
            snprintf(msg, sizeof msg, "attention B%lld T%lld H%lld KV%lld hd%lld vs double reference (max rel err %.1e)",
                     (long long)B, (long long)T, (long long)H, (long long)KV, (long long)hd, worst);
            expect(ok, msg);
            printf("%s\n", msg);
            q0 = dq; k0 = dk; v0 = dv;
            continue;
        }
        snprintf(msg, sizeof msg, "attention H%lld KV%lld: bit-identical with %d threads", (long long)H, (long long)KV, threads[i]);
        expect(same_bits(dq, q0, nq) && same_bits(dk, k0, nk) && same_bits(dv, v0, nk), msg);
        free(dq); free(dk); free(dv);
    }
    pl_set_num_threads(2);
    free(q); free(k); free(v); free(dout); free(out); free(probs); free(rq); free(rk); free(rv); free(q0); free(k0); free(v0);
}

/* The decode rows (a few queries at positions pos0.. against a cache of Tk = pos0 + Tq keys, the dot-product path
   that has a vectorised kernel for hd a multiple of 8) against a double reference of softmax(q kᵀ/√hd) v, with and
   without stored probabilities, and bit-identical over thread counts. amp large makes most exponentials underflow. */
static void test_attention_decode(int64_t B, int64_t Tq, int64_t pos0, int64_t H, int64_t KV, int64_t hd, float amp) {
    const int64_t Tk = pos0 + Tq, qr = H * hd, kr = KV * hd, g = H / KV;
    const int64_t nq = B * Tq * qr, nk = B * Tk * kr;
    float *q = rand_vec(nq, amp), *k = rand_vec(nk, 1.5f), *v = rand_vec(nk, 1.0f);
    float *out = malloc(nq * sizeof(float)), *out2 = malloc(nq * sizeof(float)), *out3 = malloc(nq * sizeof(float));
    float *probs = malloc((size_t)(B * H * Tq * Tk) * sizeof(float));
    double *sc = malloc((size_t)Tk * sizeof(double)), worst = 0.0, worst_p = 0.0;
    attention_forward(out, NULL, q, k, v, B, Tq, Tk, pos0, H, KV, hd, Tk * kr);
    attention_forward(out2, probs, q, k, v, B, Tq, Tk, pos0, H, KV, hd, Tk * kr);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < Tq; t++) {
                const int64_t n_keys = pos0 + t + 1, hk = h / g;
                const float *qt = q + (b * Tq + t) * qr + h * hd;
                double mx = -INFINITY, sum = 0.0;
                for (int64_t s = 0; s < n_keys; s++) {
                    double acc = 0.0;
                    for (int64_t d = 0; d < hd; d++) acc += (double)qt[d] * k[(b * Tk + s) * kr + hk * hd + d];
                    sc[s] = acc / sqrt((double)hd);
                    mx = fmax(mx, sc[s]);
                }
                for (int64_t s = 0; s < n_keys; s++) sum += (sc[s] = exp(sc[s] - mx));
                const float *P = probs + ((b * H + h) * Tq + t) * Tk;
                for (int64_t s = 0; s < Tk; s++) {
                    const double ref = s < n_keys ? sc[s] / sum : 0.0, e = fabs(P[s] - ref);
                    if (!(e <= worst_p)) worst_p = e;
                }
                for (int64_t d = 0; d < hd; d++) {
                    double ref = 0.0;
                    for (int64_t s = 0; s < n_keys; s++) ref += sc[s] / sum * v[(b * Tk + s) * kr + hk * hd + d];
                    const int64_t i = (b * Tq + t) * qr + h * hd + d;
                    const double e = fmax(fabs(out[i] - ref), fabs(out2[i] - ref));
                    if (!(e <= worst)) worst = e;
                }
            }
    char msg[200];
    snprintf(msg, sizeof msg, "attention decode B%lld Tq%lld pos0 %lld H%lld KV%lld hd%lld amp %.1f vs double reference "
             "(max abs err out %.1e, probs %.1e)", (long long)B, (long long)Tq, (long long)pos0, (long long)H, (long long)KV,
             (long long)hd, amp, worst, worst_p);
    expect(worst <= 2e-6 && worst_p <= 1e-6, msg);
    printf("%s\n", msg);
    pl_set_num_threads(1);
    attention_forward(out3, NULL, q, k, v, B, Tq, Tk, pos0, H, KV, hd, Tk * kr);
    pl_set_num_threads(2);
    expect(same_bits(out, out3, nq), "attention decode: bit-identical with 1 and 2 threads");
    free(q); free(k); free(v); free(out); free(out2); free(out3); free(probs); free(sc);
}

/* attention_forward_f16 over a head-major F16 cache (head stride larger than the keys held, as a cache's capacity) against
   the double reference on the F16-rounded keys and values: decode rows (Tq < 8) and the widened GEMM path (Tq >= 8). */
static void test_attention_f16(int64_t Tq, int64_t pos0, int64_t H, int64_t KV, int64_t hd) {
    if (!attention_f16_supported(hd)) {
        printf("  (no AVX2/F16C: attention over an F16 cache not run)\n");
        return;
    }
    const int64_t Tk = pos0 + Tq, cap = Tk + 5, qr = H * hd, kr = KV * hd, g = H / KV;
    float *q = rand_vec(Tq * qr, 1.5f), *k = rand_vec(Tk * kr, 1.5f), *v = rand_vec(Tk * kr, 1.0f), *out = malloc((size_t)(Tq * qr) * sizeof(float));
    uint16_t *kh = calloc((size_t)(KV * cap * hd), sizeof(uint16_t)), *vh = calloc((size_t)(KV * cap * hd), sizeof(uint16_t));
    for (int64_t hk = 0; hk < KV; hk++)
        for (int64_t s = 0; s < Tk; s++)
            for (int64_t d = 0; d < hd; d++) {
                kh[(hk * cap + s) * hd + d] = pl_fp32_to_fp16(k[s * kr + hk * hd + d]);
                vh[(hk * cap + s) * hd + d] = pl_fp32_to_fp16(v[s * kr + hk * hd + d]);
            }
    expect(attention_forward_f16(out, q, kh, vh, cap * hd, Tq, Tk, pos0, H, KV, hd) == PL_OK, "attention_forward_f16 returns PL_OK");
    double worst = 0.0, *sc = malloc((size_t)Tk * sizeof(double));
    for (int64_t h = 0; h < H; h++)
        for (int64_t t = 0; t < Tq; t++) {
            const int64_t n_keys = pos0 + t + 1, hk = h / g;
            double mx = -INFINITY, sum = 0.0;
            for (int64_t s = 0; s < n_keys; s++) {
                double acc = 0.0;
                for (int64_t d = 0; d < hd; d++) acc += (double)q[t * qr + h * hd + d] * pl_fp16_to_fp32(kh[(hk * cap + s) * hd + d]);
                sc[s] = acc / sqrt((double)hd);
                mx = fmax(mx, sc[s]);
            }
            for (int64_t s = 0; s < n_keys; s++) sum += (sc[s] = exp(sc[s] - mx));
            for (int64_t d = 0; d < hd; d++) {
                double ref = 0.0;
                for (int64_t s = 0; s < n_keys; s++) ref += sc[s] / sum * pl_fp16_to_fp32(vh[(hk * cap + s) * hd + d]);
                worst = fmax(worst, fabs(out[t * qr + h * hd + d] - ref));
            }
        }
    char msg[160];
    snprintf(msg, sizeof msg, "attention over an F16 cache Tq%lld pos0 %lld H%lld KV%lld hd%lld vs double reference (max abs err %.1e)",
             (long long)Tq, (long long)pos0, (long long)H, (long long)KV, (long long)hd, worst);
    expect(worst <= 2e-6, msg);
    printf("%s\n", msg);
    free(q); free(k); free(v); free(out); free(kh); free(vh); free(sc);
}

/* ================= SwiGLU ================= */
typedef struct { float *g, *u, *r, *h; int64_t n; } swi_ctx;
static double swi_loss(void *p) {
    swi_ctx *c = p;
    swiglu_forward(c->h, c->g, c->u, c->n);
    return dot_rd(c->r, c->h, c->n);
}

static void test_swiglu(void) {
    const int64_t n = 23;
    swi_ctx c = { rand_vec(n, 5.0f), rand_vec(n, 2.0f), rand_vec(n, 1.0f), malloc(n * sizeof(float)), n };
    float *dg = malloc(n * sizeof(float)), *du = malloc(n * sizeof(float));
    swiglu_backward(dg, du, c.r, c.g, c.u, n);
    fd_check("swiglu dg", c.g, n, dg, swi_loss, &c, 1e-2);
    fd_check("swiglu du", c.u, n, du, swi_loss, &c, 1e-2);
    /* in place: dg over dh; and dg over dh with du over u */
    float *buf = copy_vec(c.r, n), *du2 = malloc(n * sizeof(float));
    swiglu_backward(buf, du2, buf, c.g, c.u, n);
    expect(same_bits(buf, dg, n) && same_bits(du2, du, n), "swiglu: dg aliasing dh gives the same result");
    float *buf2 = copy_vec(c.r, n), *u2 = copy_vec(c.u, n);
    swiglu_backward(buf2, u2, buf2, c.g, u2, n);
    expect(same_bits(buf2, dg, n) && same_bits(u2, du, n), "swiglu: dg over dh and du over u gives the same result");
    free(c.g); free(c.u); free(c.r); free(c.h); free(dg); free(du); free(buf); free(du2); free(buf2); free(u2);
}

/* ================= cross-entropy ================= */
typedef struct { float *logits, *nll; const int32_t *targets; int64_t n_tok, V; float scale; } ce_ctx;
static double ce_loss(void *p) {
    ce_ctx *c = p;
    cross_entropy_forward(c->nll, c->logits, c->targets, c->n_tok, c->V);
    double s = 0.0;
    for (int64_t t = 0; t < c->n_tok; t++) s += c->nll[t];
    return s * c->scale;
}

static void test_cross_entropy(void) {
    const int32_t targets[] = {3, -1, 0, 8, 5};
    const int64_t T = 5, V = 9, n = T * V;
    ce_ctx c = { rand_vec(n, 3.0f), malloc(T * sizeof(float)), targets, T, V, 0.25f };
    for (int64_t v = 0; v < V; v++) c.logits[4 * V + v] += 40.0f; /* a row far from 0: the max is subtracted */
    float *dl = rand_vec(n, 7.0f);
    cross_entropy_backward(dl, c.logits, targets, T, V, c.scale);
    fd_check("cross_entropy dlogits", c.logits, n, dl, ce_loss, &c, 1e-2);
    int zero = 1;
    for (int64_t v = 0; v < V; v++) zero &= dl[1 * V + v] == 0.0f;
    expect(zero, "cross_entropy: the ignored row's gradient is exactly zero");
    /* in place */
    float *inplace = copy_vec(c.logits, n);
    cross_entropy_backward(inplace, inplace, targets, T, V, c.scale);
    expect(same_bits(inplace, dl, n), "cross_entropy_backward in place equals out of place");
    /* fused: nll as the forward, logits overwritten with the backward's dlogits */
    float *fused = copy_vec(c.logits, n), *nll_f = malloc(T * sizeof(float)), *nll = malloc(T * sizeof(float));
    cross_entropy_forward(nll, c.logits, targets, T, V);
    cross_entropy_fused(nll_f, fused, targets, T, V, c.scale);
    expect(same_bits(nll_f, nll, T), "cross_entropy_fused: nll bit-identical to cross_entropy_forward");
    expect(same_bits(fused, dl, n), "cross_entropy_fused: dlogits bit-identical to cross_entropy_backward");
    float *fused2 = copy_vec(c.logits, n);
    cross_entropy_fused(NULL, fused2, targets, T, V, c.scale);
    expect(same_bits(fused2, dl, n), "cross_entropy_fused: nll = NULL accepted");
    free(c.logits); free(c.nll); free(dl); free(inplace); free(fused); free(nll_f); free(nll); free(fused2);
}

/* ================= embedding ================= */
typedef struct { float *table, *r, *out; const int32_t *tokens; int64_t n_tok, dim; } emb_ctx;
static double emb_loss(void *p) {
    emb_ctx *c = p;
    embedding_forward(c->out, c->tokens, c->n_tok, PL_TYPE_F32, c->table, c->dim);
    return dot_rd(c->r, c->out, c->n_tok * c->dim);
}

static void test_embedding(void) {
    const int32_t tokens[] = {2, 4, 2, 0, 2, 5, 4};
    const int64_t T = 7, V = 6, D = 5;
    emb_ctx c = { rand_vec(V * D, 1.0f), rand_vec(T * D, 1.0f), malloc(T * D * sizeof(float)), tokens, T, D };
    float *d0 = rand_vec(V * D, 1.0f), *dt = copy_vec(d0, V * D);
    embedding_backward(dt, tokens, c.r, T, D);
    for (int64_t i = 0; i < V * D; i++) dt[i] -= d0[i];
    fd_check("embedding dtable", c.table, V * D, dt, emb_loss, &c, 1e-2);
    free(c.table); free(c.r); free(c.out); free(d0); free(dt);

    /* determinism with many repeated tokens, over thread counts */
    const int64_t T2 = 400, V2 = 17, D2 = 700;
    int32_t *tok = malloc(T2 * sizeof(int32_t));
    for (int64_t t = 0; t < T2; t++) tok[t] = (int32_t)((t * 7 + t / 3) % V2);
    float *dout = rand_vec(T2 * D2, 1.0f), *ref = NULL;
    const int threads[] = {1, 2, 3, 8, 1};
    for (int i = 0; i < 5; i++) {
        pl_set_num_threads(threads[i]);
        float *a = calloc(V2 * D2, sizeof(float));
        embedding_backward(a, tok, dout, T2, D2);
        if (!ref) { ref = a; continue; }
        char msg[96];
        snprintf(msg, sizeof msg, "embedding: bit-identical with %d threads", threads[i]);
        expect(same_bits(a, ref, V2 * D2), msg);
        free(a);
    }
    pl_set_num_threads(2);
    free(tok); free(dout); free(ref);
}

int main(void) {
    pl_set_num_threads(2);
    test_rmsnorm();
    test_rope(PL_ROPE_NORMAL, "rope (normal) dx");
    test_rope(PL_ROPE_NEOX, "rope (neox) dx");
    test_attention(2); /* GQA: 2 query heads per K/V head */
    test_attention(4); /* MHA */
    test_attention(1); /* MQA */
    test_attention_big(2, 33, 8, 2, 16);
    test_attention_big(1, 40, 4, 4, 8);
    test_attention_decode(1, 1, 600, 12, 12, 64, 1.5f);  /* a 110M-shaped decode step */
    test_attention_decode(2, 3, 37, 8, 2, 40, 1.5f);     /* GQA, hd not a multiple of 32, odd key counts */
    test_attention_decode(1, 2, 5, 4, 1, 128, 1.5f);     /* MQA, fewer keys than one vector */
    test_attention_decode(1, 1, 200, 2, 2, 8, 30.0f);    /* sharp softmax: most exponentials underflow */
    test_attention_decode(1, 2, 9, 3, 3, 6, 1.5f);       /* hd 6: the plain loop */
    test_attention_f16(1, 300, 12, 12, 64);              /* a decode step */
    test_attention_f16(3, 41, 8, 2, 40);                 /* GQA, a few queries */
    test_attention_f16(19, 23, 4, 1, 16);                /* a block of queries: the widened GEMM path */
    test_swiglu();
    test_cross_entropy();
    test_embedding();
    printf("ops_backward: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
