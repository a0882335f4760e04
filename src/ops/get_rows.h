/* Embedding lookup: out[i][c] = table[ids[i]][c], fp16 -> fp32. */
#ifndef VKLLM_OPS_GET_ROWS_H
#define VKLLM_OPS_GET_ROWS_H

#include "gpu/gpu.h"

/* table: fp16 [n_rows][n_cols], a tensor created with granule n_cols * 2 so
 * that each of its chunks holds whole rows; ids: int32 [n_ids];
 * out: fp32 [n_ids][n_cols], not aliasing ids. The conversion is exact.
 * Records one dispatch per chunk of the table, each writing the rows of out
 * whose id falls in it (disjoint, so no barrier between them).
 * An id outside [0, n_rows) leaves its row of out untouched; the shaders
 * never read outside their chunk. Callers validate token ids first. */
vkllm_status op_get_rows(gpu_rec *rec, gpu_tensor *table, gpu_binding ids, gpu_binding out, uint32_t n_ids,
                         uint32_t n_rows, uint32_t n_cols);
/* The same with an explicit workgroup size (0: the default). Tests use a
 * tiny one to reach the > 65535-workgroup grid on small tensors. */
vkllm_status op_get_rows_wg(gpu_rec *rec, gpu_tensor *table, gpu_binding ids, gpu_binding out, uint32_t n_ids,
                            uint32_t n_rows, uint32_t n_cols, uint32_t wg);

/* CPU reference; rows of out with an id outside [0, n_rows) are untouched. */
void ref_get_rows(const uint16_t *table, const int32_t *ids, float *out, uint32_t n_ids, uint32_t n_rows,
                  uint32_t n_cols);

/* A table of random fp16 bit patterns (subnormals, inf and NaN included)
 * on ctx's chunking, n_ids random ids that also hit the first and
 * last row, both sides of every chunk boundary and repeats, plus n_bad ids
 * out of range (-1, n_rows, INT32_MAX, ...) whose rows must stay poisoned.
 * Compared bit for bit. wg as in op_get_rows_wg. */
vkllm_status check_get_rows(gpu_ctx *ctx, uint32_t n_rows, uint32_t n_cols, uint32_t n_ids, uint32_t n_bad,
                            uint32_t wg, uint64_t seed, vkllm_check_result *out);

#endif
