/* Tests of the engine's thread pool (src/pool.c): every chunk runs exactly once, nested and concurrent loops,
   a stalled thread does not hold the others back, loops leave workers that do not pay, per-thread scratch. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "panlora.h"
#include "pool.h"

static _Atomic int failures = 0, checks = 0;
#define CHECK(cond, ...)                                  \
    do {                                                  \
        checks++;                                         \
        if (!(cond)) {                                    \
            failures++;                                   \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                 \
            fprintf(stderr, "\n");                        \
        }                                                 \
    } while (0)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(double ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - 1000 * (long)(ms / 1000)) * 1e6)};
    nanosleep(&ts, NULL);
}

/* ---- coverage: each index hit exactly once, chunks within bounds, worker < width ---- */
typedef struct {
    _Atomic int *hits;
    int64_t n, grain;
    int width;
    _Atomic int bad;
} cover_args;

static void cover_chunk(void *ctx, int64_t b, int64_t e, int worker) {
    cover_args *a = ctx;
    if (b < 0 || e > a->n || e <= b || e - b > a->grain || b % a->grain != 0 || worker < 0 || worker >= a->width) a->bad = 1;
    for (int64_t i = b; i < e && i < a->n && i >= 0; i++) atomic_fetch_add(&a->hits[i], 1);
}

static void test_coverage(void) {
    const int64_t ns[] = {1, 2, 7, 64, 1000, 100003};
    const int64_t grains[] = {1, 3, 64, 100000};
    const int widths[] = {1, 2, 3, 8};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
        for (size_t g = 0; g < sizeof grains / sizeof *grains; g++)
            for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
                _Atomic int *hits = calloc((size_t)ns[i], sizeof *hits);
                cover_args a = {hits, ns[i], grains[g], widths[w], 0};
                for (int rep = 0; rep < 3; rep++) pl_parallel_for(ns[i], grains[g], widths[w], cover_chunk, &a);
                int ok = !a.bad;
                for (int64_t k = 0; k < ns[i]; k++) ok &= hits[k] == 3;
                CHECK(ok, "coverage n=%lld grain=%lld width=%d", (long long)ns[i], (long long)grains[g], widths[w]);
                free(hits);
            }
}

/* ---- nested loops run serially inside a chunk, and still cover everything ---- */
static void nested_inner(void *ctx, int64_t b, int64_t e, int worker) {
    _Atomic int64_t *sum = ctx;
    for (int64_t i = b; i < e; i++) atomic_fetch_add(sum, i);
    if (worker != 0) atomic_fetch_add(sum, (int64_t)1 << 40); /* a nested loop must run on the calling thread */
}

static void nested_outer(void *ctx, int64_t b, int64_t e, int worker) {
    CHECK(pl_pool_in_chunk(), "pl_pool_in_chunk inside a chunk");
    for (int64_t i = b; i < e; i++) pl_parallel_for(100, 7, 4, nested_inner, ctx);
}

static void test_nested(void) {
    _Atomic int64_t sum = 0;
    pl_parallel_for(40, 1, 4, nested_outer, &sum);
    CHECK(sum == 40 * 4950, "nested loops: sum %lld, want %d", (long long)sum, 40 * 4950);
    CHECK(!pl_pool_in_chunk(), "pl_pool_in_chunk outside");
}

/* ---- one thread stalls on its chunk: the others take the rest ---- */
typedef struct {
    _Atomic int per_worker[8];
    _Atomic int stalled_worker;
} stall_args;

static void stall_chunk(void *ctx, int64_t b, int64_t e, int worker) {
    stall_args *a = ctx;
    atomic_fetch_add(&a->per_worker[worker], 1);
    if (b == 0) {
        a->stalled_worker = worker;
        sleep_ms(300); /* a descheduled thread */
    } else {
        sleep_ms(2);
    }
}

static void test_stall(void) {
    stall_args a;
    memset(&a, 0, sizeof a);
    a.stalled_worker = -1;
    const double t0 = now();
    pl_parallel_for(101, 1, 2, stall_chunk, &a);
    const double s = now() - t0;
    const int w = a.stalled_worker;
    CHECK(w >= 0 && w < 2, "stalled chunk ran");
    if (w >= 0 && w < 2) {
        /* the other thread did the 100 short chunks in ~200 ms, within the stall: the stalled one did only its own */
        CHECK(a.per_worker[w] <= 3, "the stalled thread ran %d chunks (want only its own, give or take)", a.per_worker[w]);
        CHECK(a.per_worker[1 - w] >= 98, "the other thread ran %d chunks", a.per_worker[1 - w]);
    }
    CHECK(s < 0.9, "a 300 ms stall beside 200 ms of other work took %.3f s", s);
}

/* ---- loops from several threads at once: each completes, correct ---- */
static void *concurrent_main(void *arg) {
    (void)arg;
    for (int rep = 0; rep < 200; rep++) {
        _Atomic int hits[97];
        memset(hits, 0, sizeof hits);
        cover_args a = {hits, 97, 5, 4, 0};
        pl_parallel_for(97, 5, 4, cover_chunk, &a);
        for (int k = 0; k < 97; k++)
            if (hits[k] != 1) return (void *)1;
        if (a.bad) return (void *)1;
    }
    return NULL;
}

static void test_concurrent(void) {
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, concurrent_main, NULL);
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad |= r != NULL;
    }
    CHECK(!bad, "concurrent parallel loops from 4 threads");
}

/* ---- many short loops in a row (the spin and sleep hand-offs) ---- */
static void add_chunk(void *ctx, int64_t b, int64_t e, int worker) {
    _Atomic int64_t *sum = ctx;
    atomic_fetch_add(sum, e - b);
}

static void test_many_loops(void) {
    _Atomic int64_t sum = 0;
    for (int rep = 0; rep < 20000; rep++) pl_parallel_for(64, 4, 3, add_chunk, &sum);
    /* and after the workers have gone to sleep */
    sleep_ms(20);
    pl_parallel_for(64, 4, 3, add_chunk, &sum);
    CHECK(sum == 20001 * 64, "20001 loops of 64: %lld", (long long)sum);
}

/* ---- payoff: loops go to the caller alone while the workers cost more than they give, then back ---- */
typedef struct {
    double worker_ms, caller_ms;
} payoff_args;

static void payoff_chunk(void *ctx, int64_t b, int64_t e, int worker) {
    payoff_args *a = ctx;
    (void)b, (void)e;
    sleep_ms(worker == 0 ? a->caller_ms : a->worker_ms);
}

static void test_payoff(void) {
    pl_pool_set_adaptive(1);
    int64_t par0, ser0, back0, par1, ser1, back1, par2, ser2, back2;
    pl_pool_counts(&par0, &ser0, &back0);
    /* a worker that holds its chunk 10 ms (as one descheduled for a time slice would) while the caller does the
       other chunks in 1 ms each: the loop takes ~10 ms, the caller alone ~4 ms */
    payoff_args bad = {10, 1};
    for (int i = 0; i < 12; i++) pl_parallel_for(4, 1, 2, payoff_chunk, &bad);
    pl_pool_counts(&par1, &ser1, &back1);
    CHECK(back1 - back0 >= 6, "loops run on the caller alone after the workers failed to pay: %lld of 12",
          (long long)(back1 - back0));
    CHECK(par1 - par0 <= 4, "parallel loops before backing off: %lld", (long long)(par1 - par0));
    /* after the backoff period the workers are tried again, and kept while they pay */
    sleep_ms(250);
    payoff_args good = {1, 1};
    for (int i = 0; i < 20; i++) pl_parallel_for(8, 1, 2, payoff_chunk, &good);
    pl_pool_counts(&par2, &ser2, &back2);
    CHECK(par2 - par1 == 20 && back2 == back1, "workers that pay are kept: %lld of 20 loops parallel, %lld backed off",
          (long long)(par2 - par1), (long long)(back2 - back1));
    pl_pool_set_adaptive(0);
}

/* ---- per-thread scratch ---- */
static void test_scratch(void) {
    char *a = pl_scratch(PL_SCRATCH_ROWS, 100);
    CHECK(a != NULL && ((uintptr_t)a & 63) == 0, "scratch aligned");
    if (a) memset(a, 1, 100);
    char *b = pl_scratch(PL_SCRATCH_ROWS, 50);
    CHECK(b == a, "a smaller request reuses the slot");
    char *c = pl_scratch(PL_SCRATCH_ROWS, 1 << 20);
    CHECK(c != NULL, "a larger request grows the slot");
    if (c) memset(c, 2, 1 << 20);
    CHECK(pl_scratch(PL_SCRATCH_SLOTS, 10) == NULL, "unknown slot refused");
}

int main(void) {
    pl_pool_set_adaptive(0); /* the tests below count on every loop using its workers */
    test_coverage();
    test_nested();
    test_stall();
    test_concurrent();
    test_many_loops();
    test_scratch();
    test_payoff();
    int64_t par = 0, ser = 0;
    pl_pool_counts(&par, &ser, NULL);
    printf("test_pool: %d checks, %d failures (%lld parallel loops, %lld serial)\n", checks, failures, (long long)par,
           (long long)ser);
    return failures ? 1 : 0;
}
