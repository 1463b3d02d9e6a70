/* The engine's thread pool: parallel loops whose chunks are claimed through an atomic counter.
 *
 * Why not static shares: on a machine where other programs run, any thread can be descheduled for a time
 * slice (milliseconds). With equal static shares (and a barrier at the end of every parallel region) the whole
 * op waits for that thread. Here the calling thread and the pool's workers claim small chunks one at a time,
 * so the threads that run do the work of the one that does not; the caller waits only for chunks already
 * claimed, never for a worker that has not woken up. Idle workers spin briefly (a loop of ops follows another
 * within microseconds) and then sleep on a futex, so they leave the CPU to other programs between steps.
 *
 * Results never depend on which thread ran a chunk: a chunk's outputs are computed the same way wherever it
 * runs, and reductions are made per chunk and combined in chunk order by the caller.
 */
#ifndef PL_POOL_H
#define PL_POOL_H

#include <stddef.h>
#include <stdint.h>

/* One chunk [begin, end) of a loop; worker is in [0, width) and identifies per-thread scratch (0 = caller). */
typedef void (*pl_chunk_fn)(void *ctx, int64_t begin, int64_t end, int worker);

/* Runs fn over [0, n) in chunks of `grain` items (the last may be shorter) on up to `width` threads (the caller
   and width - 1 pool workers), returning when every chunk is done. width <= 1, a single chunk, a call from
   inside a chunk, or a call while another thread of the program runs a parallel loop: the chunks run in order
   on the calling thread. grain < 1 counts as 1. Never fails: workers that cannot be created are done without. */
void pl_parallel_for(int64_t n, int64_t grain, int width, pl_chunk_fn fn, void *ctx);

/* 1 while the calling thread runs a chunk of a parallel loop (a loop it starts runs serially). */
int pl_pool_in_chunk(void);

/* A grain that gives about `per_thread` chunks per thread for n items over width threads, at least min_grain. */
int64_t pl_grain_for(int64_t n, int width, int per_thread, int64_t min_grain);

/* Per-thread scratch that lives as long as its thread and only grows: slot `slot` of the calling thread, at
   least `bytes` long and 64-byte aligned, contents undefined; NULL when it cannot be allocated. A caller owns
   a slot until it returns, so a function using a slot must not call another that uses the same slot. */
enum { PL_SCRATCH_GEMM_A, PL_SCRATCH_GEMM_B, PL_SCRATCH_ROWS, PL_SCRATCH_ATTN, PL_SCRATCH_BF16, PL_SCRATCH_Q8, PL_SCRATCH_SLOTS };
void *pl_scratch(int slot, size_t bytes);

/* Seconds on the monotonic clock (benchmarks' timings). */
double pl_seconds(void);

/* Statistics for benchmarks since the library was loaded: loops run in parallel, loops run serially (all of
   them, including those below), and loops run serially because the workers did not pay (see pool.c). */
void pl_pool_counts(int64_t *parallel, int64_t *serial, int64_t *backoff);

/* Turns the payoff check on (the default) or off; off, every loop that can use workers does (tests). */
void pl_pool_set_adaptive(int on);

#endif
