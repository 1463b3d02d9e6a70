/* The engine's thread pool (see pool.h).
 *
 * State of the current loop: `seq` numbers loops (the futex idle workers sleep on); `ticket` holds that number
 * in its high 32 bits and the count of chunks not yet claimed in its low 32 bits. A thread claims a chunk by
 * decrementing the count with a compare-and-swap that also checks the loop number, so a worker that wakes late
 * can never claim a chunk of a later loop with the earlier loop's arguments. The loop's arguments are only read
 * after a successful claim: until that chunk is counted in `done`, the caller cannot return and start another
 * loop, so the arguments stay in place. `done` counts finished chunks; the worker that finishes the last one
 * wakes the caller if it went to sleep.
 */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "common.h"
#include "pool.h"

#define PL_POOL_MAX 1024       /* threads (pl_set_num_threads allows 1..1024) */
#define PL_SPIN_NS 50000       /* how long a waiting thread spins before it sleeps: 50 µs */
#define PL_MAX_CHUNKS (1 << 30)

static struct {
    pthread_mutex_t submit; /* held by the thread running a parallel loop */
    pthread_mutex_t grow;   /* creating workers */
    _Atomic uint32_t seq;   /* number of the current loop; idle workers sleep on it */
    _Atomic uint64_t ticket;
    _Atomic uint32_t done;  /* chunks finished; the caller sleeps on it */
    _Atomic int sleepers;   /* workers asleep (or about to be) on seq */
    _Atomic int caller_sleeping;
    _Atomic int width;      /* workers with index < width take part in the current loop */
    _Atomic int n_workers;  /* workers created (indices 1..n_workers) */
    /* the current loop; written by the caller before seq is published */
    pl_chunk_fn fn;
    void *ctx;
    int64_t n, grain;
    uint32_t n_chunks;
    int call_threads; /* the caller's per-call thread count (pl_threads_override), taken by the workers for its chunks */
    _Atomic int64_t parallel_loops, serial_loops, backoff_loops;
    /* payoff of the workers, kept by the thread holding `submit` (see pl_parallel_for) */
    int adaptive;
    int64_t est_ns, took_ns;  /* this window: estimated time on the caller alone, time taken */
    int64_t serial_until;     /* loops run on the caller alone until this time */
    int64_t backoff_ns;       /* length of the next serial period */
} pool = {.submit = PTHREAD_MUTEX_INITIALIZER, .grow = PTHREAD_MUTEX_INITIALIZER, .adaptive = 1};

static _Thread_local int in_chunk; /* 1 while this thread runs a chunk (nested loops run serially) */

static long futex(_Atomic uint32_t *addr, int op, uint32_t val) {
    return syscall(SYS_futex, (uint32_t *)addr, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double pl_seconds(void) { return 1e-9 * (double)now_ns(); }

/* Spins up to PL_SPIN_NS while *word == val; returns its last value. */

static uint32_t spin_while_equal(_Atomic uint32_t *word, uint32_t val) {
    uint32_t v = atomic_load_explicit(word, memory_order_acquire);
    if (v != val) return v;
    const int64_t until = now_ns() + PL_SPIN_NS;
    for (int i = 1;; i++) {
        cpu_relax();
        v = atomic_load_explicit(word, memory_order_acquire);
        if (v != val) return v;
        if ((i & 63) == 0 && now_ns() > until) return v;
    }
}

/* Claims and runs chunks of loop number `gen` until none is left (or a later loop has started); returns how many
   it ran. */
static uint32_t run_chunks(uint32_t gen, int worker) {
    for (uint32_t ran = 0;; ran++) {
        uint64_t t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
        if ((uint32_t)(t >> 32) != gen || (uint32_t)t == 0) return ran;
        if (!atomic_compare_exchange_weak_explicit(&pool.ticket, &t, t - 1, memory_order_acq_rel, memory_order_acquire)) {
            ran--;
            continue;
        }
        /* claimed: the loop's arguments stay valid until this chunk is counted in done */
        const uint32_t left = (uint32_t)t, n_chunks = pool.n_chunks;
        const int64_t c = (int64_t)(n_chunks - left), begin = c * pool.grain;
        const int64_t end = begin + pool.grain < pool.n ? begin + pool.grain : pool.n;
        in_chunk = 1;
        const int own = worker != 0 ? pl_threads_override() : 0;
        if (worker != 0) pl_threads_set_override(pool.call_threads);
        pool.fn(pool.ctx, begin, end, worker);
        if (worker != 0) pl_threads_set_override(own);
        in_chunk = 0;
        if (atomic_fetch_add(&pool.done, 1) + 1 == n_chunks && atomic_load(&pool.caller_sleeping))
            futex(&pool.done, FUTEX_WAKE, 1);
    }
}

static void *worker_main(void *arg) {
    const int index = (int)(intptr_t)arg;
    uint32_t seen = atomic_load(&pool.seq);
    for (;;) {
        uint32_t s = spin_while_equal(&pool.seq, seen);
        if (s == seen) {
            atomic_fetch_add(&pool.sleepers, 1);
            while ((s = atomic_load(&pool.seq)) == seen) futex(&pool.seq, FUTEX_WAIT, seen);
            atomic_fetch_sub(&pool.sleepers, 1);
        }
        seen = s;
        if (index < atomic_load_explicit(&pool.width, memory_order_acquire)) run_chunks(s, index);
    }
    return NULL;
}

/* Makes sure workers 1..want-1 exist (fewer if threads cannot be created). */
static int ensure_workers(int want) {
    int have = atomic_load(&pool.n_workers);
    if (have >= want - 1) return want;
    pthread_mutex_lock(&pool.grow);
    have = atomic_load(&pool.n_workers);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (have < want - 1) {
        pthread_t th;
        if (pthread_create(&th, &attr, worker_main, (void *)(intptr_t)(have + 1)) != 0) break;
        have++;
        atomic_store(&pool.n_workers, have);
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_unlock(&pool.grow);
    return have + 1 < want ? have + 1 : want;
}

/* Whether the workers pay. The caller ran `mine` of the loop's n_chunks chunks in t1 - t0 and the loop took
   t2 - t0; alone it would have taken about (t1 - t0) * n_chunks / mine. On an idle machine the workers shorten
   every loop; on a busy one a worker can be descheduled holding a chunk and the caller waits a time slice for it,
   and when such waits eat the gain the loops are better run on the caller alone (the other program gets the core
   our workers would have fought it for). So: over windows of PL_PAYOFF_WINDOW_NS of parallel loops, when the
   estimated time alone is below the time taken, loops run on the calling thread for a backoff period (doubling
   while the workers keep failing to pay, up to PL_BACKOFF_MAX_NS), then the workers are tried again. */
#define PL_PAYOFF_WINDOW_NS 20000000LL   /* 20 ms */
#define PL_BACKOFF_MIN_NS 100000000LL    /* 100 ms */
#define PL_BACKOFF_MAX_NS 1600000000LL   /* 1.6 s */

static void account(int64_t t0, int64_t t1, int64_t t2, uint32_t mine, uint32_t n_chunks) {
    pool.took_ns += t2 - t0;
    pool.est_ns += mine > 0 ? (int64_t)((double)(t1 - t0) * n_chunks / mine) : t2 - t0;
    if (pool.took_ns < PL_PAYOFF_WINDOW_NS) return;
    if (pool.est_ns < pool.took_ns) {
        if (pool.backoff_ns < PL_BACKOFF_MIN_NS) pool.backoff_ns = PL_BACKOFF_MIN_NS;
        pool.serial_until = t2 + pool.backoff_ns;
        if (pool.backoff_ns < PL_BACKOFF_MAX_NS) pool.backoff_ns *= 2;
    } else {
        pool.backoff_ns = 0;
    }
    pool.est_ns = pool.took_ns = 0;
}

static void run_serial(int64_t n, int64_t grain, pl_chunk_fn fn, void *ctx) {
    atomic_fetch_add_explicit(&pool.serial_loops, 1, memory_order_relaxed);
    const int nested = in_chunk;
    in_chunk = 1;
    for (int64_t b = 0; b < n; b += grain) fn(ctx, b, b + grain < n ? b + grain : n, 0);
    in_chunk = nested;
}

void pl_parallel_for(int64_t n, int64_t grain, int width, pl_chunk_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (n / grain >= PL_MAX_CHUNKS) grain = n / (PL_MAX_CHUNKS - 1) + 1;
    const int64_t n_chunks = (n + grain - 1) / grain;
    if (width > PL_POOL_MAX) width = PL_POOL_MAX;
    if (width > n_chunks) width = (int)n_chunks;
    if (width <= 1 || in_chunk || pthread_mutex_trylock(&pool.submit) != 0) {
        run_serial(n, grain, fn, ctx);
        return;
    }
    if (pool.adaptive && pool.serial_until != 0) {
        if (now_ns() < pool.serial_until) {
            pthread_mutex_unlock(&pool.submit);
            atomic_fetch_add_explicit(&pool.backoff_loops, 1, memory_order_relaxed);
            run_serial(n, grain, fn, ctx);
            return;
        }
        pool.serial_until = 0;
    }
    width = ensure_workers(width);
    if (width <= 1) {
        pthread_mutex_unlock(&pool.submit);
        run_serial(n, grain, fn, ctx);
        return;
    }
    atomic_fetch_add_explicit(&pool.parallel_loops, 1, memory_order_relaxed);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.grain = grain;
    pool.n_chunks = (uint32_t)n_chunks;
    pool.call_threads = pl_threads_override();
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.width, width, memory_order_relaxed);
    const uint32_t gen = atomic_load_explicit(&pool.seq, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool.ticket, (uint64_t)gen << 32 | (uint32_t)n_chunks, memory_order_release);
    atomic_store(&pool.seq, gen); /* sequentially consistent: pairs with the sleepers count below */
    if (atomic_load(&pool.sleepers) > 0) futex(&pool.seq, FUTEX_WAKE, INT_MAX);

    const int64_t t0 = pool.adaptive ? now_ns() : 0;
    const uint32_t mine = run_chunks(gen, 0);
    const int64_t t1 = pool.adaptive ? now_ns() : 0;

    /* wait for the chunks other threads claimed: spin while they make progress, sleep when they do not */
    const uint32_t target = (uint32_t)n_chunks;
    uint32_t d;
    while ((d = atomic_load(&pool.done)) != target) {
        if (spin_while_equal(&pool.done, d) != d) continue;
        atomic_store(&pool.caller_sleeping, 1);
        d = atomic_load(&pool.done);
        if (d != target) futex(&pool.done, FUTEX_WAIT, d);
        atomic_store(&pool.caller_sleeping, 0);
    }
    if (pool.adaptive) account(t0, t1, now_ns(), mine, target);
    pthread_mutex_unlock(&pool.submit);
}

/* ---- per-thread scratch ---- */

typedef struct {
    void *p[PL_SCRATCH_SLOTS];
    size_t cap[PL_SCRATCH_SLOTS];
} scratch_set;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *v) {
    scratch_set *s = v;
    for (int i = 0; i < PL_SCRATCH_SLOTS; i++) pl_free(s->p[i]);
    free(s);
}

static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

void *pl_scratch(int slot, size_t bytes) {
    if (slot < 0 || slot >= PL_SCRATCH_SLOTS) return NULL;
    pthread_once(&scratch_once, scratch_init);
    scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (bytes == 0) bytes = 64;
    if (s->cap[slot] < bytes) {
        pl_free(s->p[slot]);
        const size_t grown = bytes + bytes / 4; /* room for slightly larger requests */
        s->p[slot] = pl_alloc(grown);
        s->cap[slot] = s->p[slot] ? grown : 0;
    }
    return s->p[slot];
}

int pl_pool_in_chunk(void) { return in_chunk; }

int64_t pl_grain_for(int64_t n, int width, int per_thread, int64_t min_grain) {
    if (width < 1) width = 1;
    if (per_thread < 1) per_thread = 1;
    int64_t g = n / ((int64_t)width * per_thread);
    if (g < min_grain) g = min_grain;
    return g < 1 ? 1 : g;
}

void pl_pool_counts(int64_t *parallel, int64_t *serial, int64_t *backoff) {
    if (parallel) *parallel = atomic_load(&pool.parallel_loops);
    if (serial) *serial = atomic_load(&pool.serial_loops);
    if (backoff) *backoff = atomic_load(&pool.backoff_loops);
}

void pl_pool_set_adaptive(int on) {
    pthread_mutex_lock(&pool.submit);
    pool.adaptive = on != 0;
    pool.est_ns = pool.took_ns = pool.serial_until = pool.backoff_ns = 0;
    pthread_mutex_unlock(&pool.submit);
}
