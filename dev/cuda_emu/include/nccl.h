// dev/cuda_emu/include/nccl.h: the NCCL calls train.cu makes, done with MPI on
// host memory (the emulation's device memory), fp32 sums only, so that
// mpirun -np N runs the emulated ./train_gpu's data-parallel and ZeRO-1 code.
// Grouped calls run one by one: every rank issues them in the same order.
#ifndef EMU_NCCL_H
#define EMU_NCCL_H
#include <mpi.h>
#include <string.h>
typedef int ncclResult_t;
#define ncclSuccess 0
typedef struct { char internal[128]; } ncclUniqueId;
typedef int ncclComm_t;
typedef enum { ncclFloat, ncclBfloat16 } ncclDataType_t;
typedef enum { ncclSum, ncclAvg } ncclRedOp_t;
static const char *ncclGetErrorString(ncclResult_t r) { return r == 0 ? "success" : "emulated error"; }
static ncclResult_t ncclGetUniqueId(ncclUniqueId *id) { memset(id, 0, sizeof(*id)); return ncclSuccess; }
static ncclResult_t ncclCommInitRank(ncclComm_t *c, int n, ncclUniqueId id, int rank) {
    (void)n; (void)id; (void)rank; *c = 0; return ncclSuccess;
}
static ncclResult_t ncclCommDestroy(ncclComm_t c) { (void)c; return ncclSuccess; }
static ncclResult_t ncclGroupStart(void) { return ncclSuccess; }
static ncclResult_t ncclGroupEnd(void) { return ncclSuccess; }
static ncclResult_t emu_nccl_check(ncclDataType_t t, ncclRedOp_t op) {
    return t == ncclFloat && op == ncclSum ? ncclSuccess : 1;
}
static ncclResult_t ncclAllReduce(const void *s, void *r, size_t n, ncclDataType_t t, ncclRedOp_t op,
                                  ncclComm_t c, int stream) {
    (void)c; (void)stream;
    if (emu_nccl_check(t, op) != ncclSuccess) { return 1; }
    if (s != r) { memcpy(r, s, n * sizeof(float)); }
    MPI_Allreduce(MPI_IN_PLACE, r, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return ncclSuccess;
}
static ncclResult_t ncclReduce(const void *s, void *r, size_t n, ncclDataType_t t, ncclRedOp_t op,
                               int root, ncclComm_t c, int stream) {
    (void)c; (void)stream;
    if (emu_nccl_check(t, op) != ncclSuccess) { return 1; }
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == root) {
        if (s != r) { memcpy(r, s, n * sizeof(float)); }
        MPI_Reduce(MPI_IN_PLACE, r, (int)n, MPI_FLOAT, MPI_SUM, root, MPI_COMM_WORLD);
    } else {
        MPI_Reduce(s, NULL, (int)n, MPI_FLOAT, MPI_SUM, root, MPI_COMM_WORLD);
    }
    return ncclSuccess;
}
static ncclResult_t ncclBroadcast(const void *s, void *r, size_t n, ncclDataType_t t, int root,
                                  ncclComm_t c, int stream) {
    (void)c; (void)stream;
    if (t != ncclFloat) { return 1; }
    if (s != r) { memcpy(r, s, n * sizeof(float)); }
    MPI_Bcast(r, (int)n, MPI_FLOAT, root, MPI_COMM_WORLD);
    return ncclSuccess;
}
#endif
