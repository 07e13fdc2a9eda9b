/*
train_mpi.h: data parallelism over processes. Part of train.c (included by
it, after the model): the run loop calls these collectives; what they do to
the gradients and the AdamW state is described where they are called
(train.c: the CPU backend and run_checkpoint; train.cu: its NCCL twin).
*/
#ifdef USE_MPI
#include <mpi.h>
#endif

// ----------------------------------------------------------------------------
// data-parallel ranks: MPI when built with `make MPI=1` (-DUSE_MPI), otherwise
// one rank and every collective below is the identity. Each rank computes
// B / nranks sequences of every batch; the gradients are summed over ranks.
// With ZeRO-1 (--zero 1) rank r keeps the AdamW moments of parameters
// [shard_start(r), shard_start(r + 1)) only, and updates only those.

typedef struct {
    int rank;    // this process, 0-based
    int nranks;  // processes in the run
} Comm;

static Comm g_comm = {0, 1};

static void comm_init(int *argc, char ***argv) {
#ifdef USE_MPI
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_comm.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_comm.nranks);
#else
    (void)argc;
    (void)argv;
#endif
}

static void comm_finish(void) {
#ifdef USE_MPI
    MPI_Finalize();
#endif
}

// the first parameter of rank r's shard (r = nranks gives n). Shards start at
// multiples of 16 floats (64 bytes: a cache line; on the GPU whole 128-bit
// packs of 4 floats and of 8 bf16), so that every rank's AdamW and gradient
// norm run their vector loops from the shard's first element (train.cu's
// kernels fall back to one element at a time on a shard that starts inside
// a pack: 4 of 5 ranks at GPT-2 124M, before this rounding).
static size_t shard_bound(size_t n, int r, int nranks) {
    if (r >= nranks) { return n; }
    size_t s = n * (size_t)r / (size_t)nranks;
    return s - s % 16;
}
static size_t shard_start(size_t n, int r) { return shard_bound(n, r, g_comm.nranks); }

// the parameters of the largest of nranks shards (the bill's moments per rank)
static size_t shard_largest(size_t n, int nranks) {
    size_t most = 0;
    for (int r = 0; r < nranks; r++) {
        size_t k = shard_bound(n, r + 1, nranks) - shard_bound(n, r, nranks);
        most = k > most ? k : most;
    }
    return most;
}

#ifdef USE_MPI
static int mpi_count(size_t n) {
    if (n > (size_t)INT_MAX) { die("MPI: %zu floats in one message is more than MPI's int count", n); }
    return (int)n;
}

// the shards' counts, then their displacements (2 x nranks ints, to free),
// for the v-collectives
static int *shard_counts(size_t n) {
    int R = g_comm.nranks;
    int *counts = (int *)mallocCheck(2 * (size_t)R * sizeof(int));
    for (int r = 0; r < R; r++) {
        counts[r] = mpi_count(shard_start(n, r + 1) - shard_start(n, r));
        counts[R + r] = mpi_count(shard_start(n, r));
    }
    return counts;
}
#endif

static double comm_sum(double x) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) { MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); }
#endif
    return x;
}

static int comm_broadcast_int(int x) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) { MPI_Bcast(&x, 1, MPI_INT, 0, MPI_COMM_WORLD); }
#endif
    return x;
}

static void comm_barrier(void) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) { MPI_Barrier(MPI_COMM_WORLD); }
#endif
}

// x (n floats) = the sum of every rank's x
static void comm_all_reduce(float *x, size_t n) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) {
        MPI_Allreduce(MPI_IN_PLACE, x, mpi_count(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
#else
    (void)x;
    (void)n;
#endif
}

// ZeRO-1: this rank's shard of x = the sum of that shard over every rank
// (the rest of x is left as scratch)
static void comm_reduce_scatter(float *x, size_t n) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) {
        int *counts = shard_counts(n), *displs = counts + g_comm.nranks;
        // in place, MPI leaves the result at the start of the buffer
        MPI_Reduce_scatter(MPI_IN_PLACE, x, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        memmove(x + displs[g_comm.rank], x, (size_t)counts[g_comm.rank] * sizeof(float));
        free(counts);
    }
#else
    (void)x;
    (void)n;
#endif
}

// ZeRO-1: every rank's shard of x, copied to every rank
static void comm_all_gather(float *x, size_t n) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) {
        int *counts = shard_counts(n), *displs = counts + g_comm.nranks;
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, displs, MPI_FLOAT,
                       MPI_COMM_WORLD);
        free(counts);
    }
#else
    (void)x;
    (void)n;
#endif
}

// ZeRO-1: full (n floats, rank 0 only) = every rank's shard (its own `mine`)
static void comm_gather_shards(float *full, const float *mine, size_t n) {
#ifdef USE_MPI
    int *counts = shard_counts(n), *displs = counts + g_comm.nranks;
    MPI_Gatherv(mine, counts[g_comm.rank], MPI_FLOAT, full, counts, displs, MPI_FLOAT, 0,
                MPI_COMM_WORLD);
    free(counts);
#else
    memcpy(full, mine, n * sizeof(float));
#endif
}

// with more than one rank: checks that every rank holds the same n bytes of
// parameters (a hash of their bits) and says so; a mismatch is an error
static void comm_check_same(const void *params, size_t n) {
    if (g_comm.nranks == 1) { return; }
    const unsigned char *bytes = (const unsigned char *)params;
    uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (size_t i = 0; i < n; i++) { hash = (hash ^ bytes[i]) * 1099511628211ull; }
    uint64_t lo = hash, hi = hash;
#ifdef USE_MPI
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
#endif
    if (lo != hi) {
        die("rank %d: the ranks' parameters differ (hashes %016llx to %016llx)", g_comm.rank,
            (unsigned long long)lo, (unsigned long long)hi);
    }
    if (g_comm.rank == 0) {
        printf("ranks: all %d hold the same parameters (hash %016llx)\n", g_comm.nranks,
               (unsigned long long)hash);
    }
}
