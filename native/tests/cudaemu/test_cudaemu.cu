/* test_cudaemu: the emulator itself (runtime.cpp, include/), so that a backend test passing under it means something.
   Written as CUDA (transform.pl rewrites the launches); each check prints PASS/FAIL, then "N passed, N failed".
   Checks: thread and block indices, __syncthreads ordering, shuffles (xor, indexed, down, up, widths) and votes against
   their definitions, wmma against a loop, dynamic shared memory and its 48 KiB rule, divergent barriers and warp
   collectives naming exited lanes reported as launch failures (sticky, so they run in child processes), invalid
   configurations, copies whose kind does not match the pointers, overruns, NaN-filled fresh memory, host code touching
   device memory (a child process dies), out of memory against the device size, wmma's alignment rules. */
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <mma.h>

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h" /* native/tests */

/* Runs f in a child process; returns its exit status (128 + signal when it died). */
static int in_child(void (*f)(void)) {
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p == 0) {
        f();
        _exit(0);
    }
    int st = 0;
    waitpid(p, &st, 0);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

__global__ void index_kernel(int *out) {
    const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    const int b = blockIdx.x + gridDim.x * blockIdx.y;
    out[b * blockDim.x * blockDim.y * blockDim.z + t] = b * 1000 + t;
}

/* every thread writes, then after the barrier reads its neighbour's slot: wrong without __syncthreads */
__global__ void barrier_kernel(int *out) {
    __shared__ int s[256];
    s[threadIdx.x] = (int)threadIdx.x * 3;
    __syncthreads();
    out[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}

__global__ void shuffle_kernel(float *xor_sum, int *idx, int *down, int *up, int *w8, unsigned *ballot, int *any) {
    const int l = threadIdx.x & 31;
    float v = (float)threadIdx.x;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    xor_sum[threadIdx.x] = v;
    idx[threadIdx.x] = __shfl_sync(0xffffffffu, (int)threadIdx.x, 31 - l);
    down[threadIdx.x] = __shfl_down_sync(0xffffffffu, (int)threadIdx.x, 3);
    up[threadIdx.x] = __shfl_up_sync(0xffffffffu, (int)threadIdx.x, 5);
    w8[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 12, 8); /* a later group of 8: own value */
    ballot[threadIdx.x] = __ballot_sync(0xffffffffu, l % 3 == 0);
    any[threadIdx.x] = __any_sync(0xffffffffu, threadIdx.x == 40) + 2 * __all_sync(0xffffffffu, l < 32);
}

__global__ void wmma_kernel(const __nv_bfloat16 *a, const __nv_bfloat16 *b, float *c) {
    namespace wmma = nvcuda::wmma;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 1.0f);
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::mma_sync(acc, fa, fb, acc);
    wmma::store_matrix_sync(c, acc, 16, wmma::mem_row_major);
}

__global__ void dyn_smem_kernel(float *out, int n) {
    extern __shared__ float buf[];
    for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = (float)i;
    __syncthreads();
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += buf[i];
    if (threadIdx.x == 0) out[blockIdx.x] = s;
}

__global__ void read_fresh_kernel(const float *p, int *is_nan) { *is_nan = isnan(p[threadIdx.x]) ? 1 : 0; }

__global__ void divergent_barrier_kernel(int *out) {
    if (threadIdx.x < 16) {
        __syncthreads();
        out[threadIdx.x] = 1;
    } else {
        out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 2, 1);
    }
}

__global__ void exited_lane_kernel(int *out) {
    if (threadIdx.x == 5) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 1);
}

__global__ void wmma_misaligned_kernel(const __nv_bfloat16 *a, float *c) {
    namespace wmma = nvcuda::wmma;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
    wmma::load_matrix_sync(fa, a + 1, 16); /* 2 bytes past a 256-bit boundary */
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    wmma::store_matrix_sync(c, acc, 16, wmma::mem_row_major);
}

__global__ void overrun_kernel(float *p, int n) { p[n + 200] = 1.0f; } /* 800 bytes past 400: in the guard page */

static void child_divergent(void) {
    int *d = NULL;
    cudaMalloc((void **)&d, 64 * sizeof(int));
    divergent_barrier_kernel<<<1, 32>>>(d);
    cudaError_t e = cudaGetLastError();
    _exit(e == cudaErrorLaunchFailure && cudaStreamSynchronize(0) == cudaErrorLaunchFailure ? 0 : 1);
}
static void child_exited_lane(void) {
    int *d = NULL;
    cudaMalloc((void **)&d, 64 * sizeof(int));
    exited_lane_kernel<<<1, 32>>>(d);
    _exit(cudaGetLastError() == cudaErrorLaunchFailure ? 0 : 1);
}
static void child_wmma_misaligned(void) {
    __nv_bfloat16 *a = NULL;
    float *c = NULL;
    cudaMalloc((void **)&a, 512 * sizeof(__nv_bfloat16));
    cudaMalloc((void **)&c, 256 * sizeof(float));
    wmma_misaligned_kernel<<<1, 32>>>(a, c);
    _exit(cudaGetLastError() == cudaErrorLaunchFailure ? 0 : 1);
}
static void child_host_touch(void) {
    float *d = NULL;
    cudaMalloc((void **)&d, 1024);
    d[3] = 1.0f; /* host code writing device memory: must fault */
    _exit(0);
}
static void child_overrun(void) {
    float *d = NULL;
    cudaMalloc((void **)&d, 100 * sizeof(float));
    overrun_kernel<<<1, 1>>>(d, 100);
    _exit(0);
}

int main(void) {
    /* indices */
    {
        int *d = NULL, h[2 * 3 * 4 * 2 * 2];
        const int n = (int)(sizeof h / sizeof h[0]);
        cudaMalloc((void **)&d, sizeof h);
        index_kernel<<<dim3(2, 2), dim3(3, 4, 2)>>>(d);
        cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
        int ok = cudaGetLastError() == cudaSuccess;
        for (int i = 0; i < n; i++) ok &= h[i] == (i / 24) * 1000 + i % 24;
        check(ok, "threadIdx, blockIdx, blockDim, gridDim in 3-D blocks of a 2-D grid");
        cudaFree(d);
    }
    /* barrier */
    {
        int *d = NULL, h[256];
        cudaMalloc((void **)&d, sizeof h);
        barrier_kernel<<<1, 256>>>(d);
        cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
        int ok = 1;
        for (int i = 0; i < 256; i++) ok &= h[i] == ((i + 1) % 256) * 3;
        check(ok, "__syncthreads: every thread reads what its neighbour wrote before the barrier");
        cudaFree(d);
    }
    /* shuffles and votes */
    {
        const int n = 64;
        float *xs = NULL;
        int *idx = NULL, *down = NULL, *up = NULL, *w8 = NULL, *any = NULL;
        unsigned *bal = NULL;
        cudaMalloc((void **)&xs, n * 4); cudaMalloc((void **)&idx, n * 4); cudaMalloc((void **)&down, n * 4);
        cudaMalloc((void **)&up, n * 4); cudaMalloc((void **)&w8, n * 4); cudaMalloc((void **)&bal, n * 4);
        cudaMalloc((void **)&any, n * 4);
        shuffle_kernel<<<1, n>>>(xs, idx, down, up, w8, bal, any);
        float hx[64];
        int hi[64], hd[64], hu[64], hw[64], ha[64];
        unsigned hb[64];
        cudaMemcpy(hx, xs, n * 4, cudaMemcpyDeviceToHost); cudaMemcpy(hi, idx, n * 4, cudaMemcpyDeviceToHost);
        cudaMemcpy(hd, down, n * 4, cudaMemcpyDeviceToHost); cudaMemcpy(hu, up, n * 4, cudaMemcpyDeviceToHost);
        cudaMemcpy(hw, w8, n * 4, cudaMemcpyDeviceToHost); cudaMemcpy(hb, bal, n * 4, cudaMemcpyDeviceToHost);
        cudaMemcpy(ha, any, n * 4, cudaMemcpyDeviceToHost);
        int ok_x = 1, ok_i = 1, ok_d = 1, ok_u = 1, ok_w = 1, ok_b = 1, ok_a = 1;
        unsigned want_b = 0;
        for (int l = 0; l < 32; l++) want_b |= (unsigned)(l % 3 == 0) << l;
        for (int t = 0; t < n; t++) {
            const int w = t / 32, l = t % 32;
            ok_x &= hx[t] == (float)(32 * 31 / 2 + 32 * 32 * w);
            ok_i &= hi[t] == w * 32 + 31 - l;
            ok_d &= hd[t] == (l + 3 < 32 ? t + 3 : t);
            ok_u &= hu[t] == (l >= 5 ? t - 5 : t);
            ok_w &= hw[t] == ((l & 8) ? t ^ 12 : t); /* an earlier group of 8 may be read, a later one not */
            ok_b &= hb[t] == want_b;
            ok_a &= ha[t] == (w == 1 ? 3 : 2);
        }
        check(ok_x, "__shfl_xor_sync butterfly sum over each warp");
        check(ok_i, "__shfl_sync from an indexed lane");
        check(ok_d && ok_u, "__shfl_down_sync and __shfl_up_sync keep their own value past the warp's edge");
        check(ok_w, "a shuffle width of 8: lanes read earlier groups, and get their own value for later ones");
        check(ok_b && ok_a, "__ballot_sync, __any_sync, __all_sync per warp");
        cudaFree(xs); cudaFree(idx); cudaFree(down); cudaFree(up); cudaFree(w8); cudaFree(bal); cudaFree(any);
    }
    /* wmma */
    {
        __nv_bfloat16 ha[256], hb[256];
        float hc[256];
        for (int i = 0; i < 256; i++) {
            ha[i] = __float2bfloat16_rn((float)((i * 7) % 13) - 6.0f);
            hb[i] = __float2bfloat16_rn((float)((i * 5) % 11) * 0.25f);
        }
        __nv_bfloat16 *a = NULL, *b = NULL;
        float *c = NULL;
        cudaMalloc((void **)&a, sizeof ha); cudaMalloc((void **)&b, sizeof hb); cudaMalloc((void **)&c, sizeof hc);
        cudaMemcpy(a, ha, sizeof ha, cudaMemcpyHostToDevice);
        cudaMemcpy(b, hb, sizeof hb, cudaMemcpyHostToDevice);
        wmma_kernel<<<1, 32>>>(a, b, c);
        cudaMemcpy(hc, c, sizeof hc, cudaMemcpyDeviceToHost);
        double worst = 0.0;
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 16; n++) {
                double s = 1.0;
                for (int k = 0; k < 16; k++) s += (double)__bfloat162float(ha[m * 16 + k]) * __bfloat162float(hb[n * 16 + k]);
                worst = fmax(worst, fabs(s - hc[m * 16 + n]));
            }
        check(worst == 0.0, "wmma 16x16x16 BF16 (A row-major, B column-major) + C against a loop: max |diff| %g", worst);
        cudaFree(a); cudaFree(b); cudaFree(c);
    }
    /* dynamic shared memory and its limit */
    {
        float *d = NULL, h[3];
        cudaMalloc((void **)&d, sizeof h);
        const int n = 20000; /* 80000 bytes > 48 KiB */
        dyn_smem_kernel<<<3, 128, n * sizeof(float)>>>(d, n);
        cudaError_t e = cudaGetLastError();
        check(e == cudaErrorInvalidValue, "80000 bytes of dynamic shared memory without cudaFuncSetAttribute: refused (%s)",
              cudaGetErrorName(e));
        check(cudaFuncSetAttribute(dyn_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, n * 4) == cudaSuccess,
              "cudaFuncSetAttribute raises the kernel's limit");
        dyn_smem_kernel<<<3, 128, n * sizeof(float)>>>(d, n);
        e = cudaGetLastError();
        cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
        const float want = (float)n * (float)(n - 1) / 2.0f;
        check(e == cudaSuccess && fabsf(h[0] - want) <= 1e-3f * want && h[2] == h[0],
              "then the launch runs: every block sums its shared buffer (%g, want about %g)", h[0], want);
        check(cudaFuncSetAttribute(dyn_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 300000) ==
                  cudaErrorInvalidValue, "more than the device's opt-in maximum is refused");
        cudaGetLastError();
        cudaFree(d);
    }
    /* configurations */
    {
        int *d = NULL;
        cudaMalloc((void **)&d, 4096 * 4);
        index_kernel<<<1, 2048>>>(d);
        check(cudaGetLastError() == cudaErrorInvalidConfiguration, "a block of 2048 threads is an invalid configuration");
        index_kernel<<<dim3(1, 70000), 32>>>(d);
        check(cudaGetLastError() == cudaErrorInvalidConfiguration, "gridDim.y = 70000 is an invalid configuration");
        index_kernel<<<0, 32>>>(d);
        check(cudaGetLastError() == cudaErrorInvalidConfiguration, "an empty grid is an invalid configuration");
        cudaFree(d);
    }
    /* memory */
    {
        float *d = NULL, h[64];
        int *flag = NULL, hf = -1;
        cudaMalloc((void **)&d, sizeof h);
        cudaMalloc((void **)&flag, sizeof(int));
        read_fresh_kernel<<<1, 1>>>(d, flag);
        cudaMemcpy(&hf, flag, sizeof hf, cudaMemcpyDeviceToHost);
        check(hf == 1, "fresh device memory reads as NaN");
        check(cudaMemcpy(h, d, sizeof h, cudaMemcpyHostToDevice) == cudaErrorInvalidValue,
              "a copy whose kind says host-to-device but whose destination is host memory is refused");
        check(cudaMemcpy(h, d, sizeof h + 4096, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue,
              "a copy running past the end of a device allocation is refused");
        void *big = NULL;
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        check(cudaMalloc(&big, total_b) == cudaErrorMemoryAllocation && big == NULL,
              "cudaMalloc of the whole device while some is used: out of memory");
        cudaGetLastError();
        cudaFree(d);
        cudaFree(flag);
    }
    /* failures that end a process or poison its context: in children */
    check(in_child(child_divergent) == 0, "threads of a block at different barriers: a launch failure, sticky afterwards");
    check(in_child(child_exited_lane) == 0, "a full-mask shuffle after a lane has exited: a launch failure");
    check(in_child(child_wmma_misaligned) == 0, "a wmma load from a pointer that is not 256-bit aligned: a launch failure");
    if (getenv("PLC_EMU_PROTECT") == NULL || strcmp(getenv("PLC_EMU_PROTECT"), "0") != 0) {
        const int st = in_child(child_host_touch);
        check(st == 128 + SIGSEGV, "host code writing device memory dies with SIGSEGV (status %d)", st);
    }
    {
        const int st = in_child(child_overrun);
        check(st == 128 + SIGSEGV, "a kernel writing a page past its allocation dies with SIGSEGV (status %d)", st);
    }
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
