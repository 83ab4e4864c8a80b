// lorabook's worker pool: T-1 persistent threads plus the caller run one job at a time, each on its
// own share (worker index w). A job is a function pointer and a context pointer, so starting one
// allocates nothing (DispatchQueue.concurrentPerform allocated 3–4 blocks per call, and a training
// step makes hundreds of parallel regions). Workers spin briefly after a job (the next region
// usually follows within microseconds), then sleep on a condition variable, so an idle pool costs no
// CPU and never competes with oneDNN's or OpenBLAS's threads for long.
#include "include/ckernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define LB_PAUSE() _mm_pause()
#else
#define LB_PAUSE() ((void)0)
#endif

#define LB_MAX_WORKERS 256
/* About 30–60 µs of pause instructions before a worker sleeps. */
#define LB_SPIN 2000

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static atomic_uint_fast64_t generation = 0;   /* bumped once per job */
static atomic_int sleepers = 0;
static atomic_int pending = 0;                /* workers still running the current job */
static int started = 0;                       /* helper threads created (guarded by the caller) */
static void (*job_fn)(void *, int) = NULL;
static void *job_ctx = NULL;
static int job_workers = 0;
static uint_fast64_t start_generation[LB_MAX_WORKERS];
static atomic_flag busy = ATOMIC_FLAG_INIT;           /* one job at a time */
static _Thread_local int inside_job = 0;

static void *worker_main(void *arg) {
    int w = (int)(intptr_t)arg;
    uint_fast64_t seen = start_generation[w];   /* the generation before the job it was created for */
    inside_job = 1;
    for (;;) {
        uint_fast64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
            if (++spins < LB_SPIN) { LB_PAUSE(); continue; }
            pthread_mutex_lock(&pool_lock);
            atomic_fetch_add(&sleepers, 1);
            while ((g = atomic_load(&generation)) == seen) pthread_cond_wait(&pool_wake, &pool_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&pool_lock);
            break;
        }
        seen = g;
        /* Every helper acknowledges every job, those with no share too: the caller waits for all
           of them, so no helper can still be reading one job's fields when the next is posted. */
        if (w < job_workers) job_fn(job_ctx, w);
        atomic_fetch_sub_explicit(&pending, 1, memory_order_release);
    }
    return NULL;
}

int lb_pool_inside_job(void) { return inside_job; }

int lb_pool_run(int workers, void (*fn)(void *, int), void *ctx) {
    if (workers > LB_MAX_WORKERS) workers = LB_MAX_WORKERS;
    if (workers <= 1) { fn(ctx, 0); return 1; }
    /* Called from inside a job, or while another thread's job runs: run every share here, in order. */
    if (inside_job || atomic_flag_test_and_set(&busy)) {
        for (int w = 0; w < workers; w++) fn(ctx, w);
        return workers;
    }
    while (started < workers - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        start_generation[started + 1] = atomic_load(&generation);
        if (pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(started + 1)) != 0) {
            pthread_attr_destroy(&attr);
            break;
        }
        pthread_attr_destroy(&attr);
        started++;
    }
    if (workers > started + 1) workers = started + 1;
    if (workers <= 1) { fn(ctx, 0); atomic_flag_clear(&busy); return 1; }
    job_fn = fn; job_ctx = ctx; job_workers = workers;
    atomic_store(&pending, started);
    atomic_fetch_add(&generation, 1);   /* seq_cst: publishes the job, then the sleepers check */
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&pool_lock);
        pthread_cond_broadcast(&pool_wake);
        pthread_mutex_unlock(&pool_lock);
    }
    inside_job = 1;
    fn(ctx, 0);
    inside_job = 0;
    while (atomic_load_explicit(&pending, memory_order_acquire) > 0) LB_PAUSE();
    atomic_flag_clear(&busy);
    return workers;
}
