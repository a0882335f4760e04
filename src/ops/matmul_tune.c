/* matmul_tune: the decode kernel's configuration measured on the device
 * (see matmul.h). Vendors differ in what keeps their memory busy (subgroup
 * width, registers, how many workgroups a multiprocessor holds), and the
 * right answer also depends on the shape; timing a handful of candidates on
 * the model's own weights takes a fraction of a second on a GPU. */
#include <stdlib.h>

#include "matmul.h"
#include "profile.h"

#define ROUNDS 2
#define MIN_GAIN 0.97 /* a candidate replaces the default only when >= 3 % faster */

/* The candidates for one shape, the default first. GPUs: 1-8 subgroups per
 * workgroup, 1-4 rows per subgroup pass, one or four passes per
 * workgroup. CPU devices (tuned only on request): one subgroup, more rows. */
static uint32_t candidates(const ops_profile *p, const matmul_config *def, matmul_config *out)
{
    const uint32_t sg = p->subgroup_size;
    const bool cpu = p->family == OPS_FAMILY_CPU;
    static const uint32_t r_gpu[] = { 1, 2, 4 }, r_cpu[] = { 4, 8, 16, 32 };
    const uint32_t *rs = cpu ? r_cpu : r_gpu;
    const uint32_t n_r = cpu ? 4 : 3, n_wg = cpu ? 1 : 4;
    uint32_t n = 0;
    out[n++] = *def;
    for (uint32_t iw = 0; iw < n_wg; iw++) {
        const uint32_t wg = sg << iw;
        if (wg > p->max_workgroup_invocations) break;
        for (uint32_t ir = 0; ir < n_r; ir++)
            for (uint32_t passes = 1; passes <= 4; passes *= 4) {
                matmul_config c = *def;
                c.wg = wg;
                c.r = rs[ir];
                c.rows = (wg / sg) * c.r * passes;
                bool dup = false;
                for (uint32_t i = 0; i < n && !dup; i++)
                    dup = out[i].wg == c.wg && out[i].r == c.r && out[i].rows == c.rows;
                if (!dup && n < MATMUL_TUNE_CANDIDATES) out[n++] = c;
            }
    }
    return n;
}

uint32_t matmul_tune_candidates(const vkllm_device_info *info, const matmul_config *def, matmul_config *out)
{
    ops_profile p = ops_profile_for(info);
    return candidates(&p, def, out);
}

uint32_t matmul_tune_candidates_ctx(gpu_ctx *ctx, const matmul_config *def, matmul_config *out)
{
    return candidates(ops_profile_of(ctx), def, out);
}

/* GPU time (µs) of one product (M columns of x) over each of the shape's
 * weights in turn, with a barrier between them as in a forward pass. */
static vkllm_status time_config(gpu_ctx *ctx, const matmul_tune_shape *sh, const matmul_config *c, gpu_binding x,
                                gpu_binding y, uint32_t M, double *us)
{
    uint32_t n_dispatch = 0;
    for (uint32_t i = 0; i < sh->n; i++) n_dispatch += gpu_tensor_n_chunks(sh->w[i]);
    gpu_rec *rec = NULL;
    vkllm_status s = gpu_rec_begin(ctx, n_dispatch, &rec);
    if (s == VKLLM_OK) { /* errors stick to the recording (gpu.h) */
        for (uint32_t i = 0; i < sh->n; i++) {
            if (sh->glu) op_matmul_glu_with(rec, c, sh->w[i], sh->w2[i], x, y, M, sh->N, sh->K);
            else op_matmul_with(rec, c, sh->w[i], x, y, M, sh->N, sh->K);
            gpu_barrier(rec); /* one product after the other, as in a forward pass */
        }
        s = gpu_rec_end(rec);
    }
    if (s == VKLLM_OK) s = gpu_rec_submit(rec);
    *us = s == VKLLM_OK ? gpu_rec_total_us(rec) : 0;
    gpu_rec_destroy(rec);
    if (s == VKLLM_OK && !(*us > 0))
        s = gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED, "matmul tune: the device gave no kernel timestamps");
    return s;
}

vkllm_status matmul_tune(gpu_ctx *ctx, const matmul_tune_shape *shapes, uint32_t n_shapes, matmul_tune_result *results)
{
    uint32_t max_n = 1, max_k = 1;
    for (uint32_t i = 0; i < n_shapes; i++) {
        if (shapes[i].N > max_n) max_n = shapes[i].N;
        if (shapes[i].K > max_k) max_k = shapes[i].K;
    }
    /* x and y: only their size matters (zeros; the kernels have no data-dependent paths) */
    gpu_tensor *tx = NULL, *ty = NULL;
    gpu_rec *rec = NULL;
    vkllm_status s = gpu_rec_begin(ctx, 0, &rec);
    if (s == VKLLM_OK) {
        gpu_rec_note(rec, gpu_tensor_create(ctx, 4ull * max_k, 0, &tx));
        gpu_rec_note(rec, gpu_tensor_create(ctx, 4ull * max_n, 0, &ty));
        gpu_rec_fill(rec, gpu_bind(tx), 4ull * max_k, 0);
        s = gpu_rec_end(rec);
    }
    if (s == VKLLM_OK) s = gpu_rec_submit(rec);
    gpu_rec_destroy(rec);

    for (uint32_t i = 0; i < n_shapes && s == VKLLM_OK; i++) {
        const matmul_tune_shape *sh = &shapes[i];
        matmul_tune_result *res = &results[i];
        if (sh->n == 0 || !sh->w || (sh->glu && !sh->w2)) {
            s = gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "matmul tune: shape %u x %u has no weights", sh->N, sh->K);
            break;
        }
        /* the defaults, from the device description (not an earlier tuning) */
        matmul_config def = matmul_pick_default(ctx, 1, sh->N, sh->K);
        if (sh->glu) def = matmul_glu_config(def);
        *res = (matmul_tune_result){ .N = sh->N, .K = sh->K, .glu = sh->glu, .def = def, .best = def };
        if (def.kind != MATMUL_MATVEC) continue; /* not a matrix-vector shape here */
        matmul_config cand[MATMUL_TUNE_CANDIDATES];
        double best_us[MATMUL_TUNE_CANDIDATES];
        uint32_t n = matmul_tune_candidates_ctx(ctx, &def, cand);
        for (uint32_t c = 0; c < n; c++) best_us[c] = 1e300;
        for (uint32_t round = 0; round < ROUNDS && s == VKLLM_OK; round++)
            for (uint32_t c = 0; c < n && s == VKLLM_OK; c++) {
                double us;
                s = time_config(ctx, sh, &cand[c], gpu_bind(tx), gpu_bind(ty), 1, &us);
                if (s == VKLLM_OK && us < best_us[c]) best_us[c] = us;
            }
        if (s != VKLLM_OK) break;
        uint32_t b = 0;
        for (uint32_t c = 1; c < n; c++)
            if (best_us[c] < best_us[b]) b = c;
        if (best_us[b] > MIN_GAIN * best_us[0]) b = 0;
        const double bytes = (sh->glu ? 2.0 : 1.0) * 2.0 * sh->N * sh->K * sh->n;
        res->n_tried = n;
        res->best = cand[b];
        res->def_gbps = bytes / best_us[0] * 1e-3;
        res->best_gbps = bytes / best_us[b] * 1e-3;
        matmul_set_tuned(ctx, sh->glu, sh->N, sh->K, &cand[b]);
    }
    gpu_tensor_destroy(ctx, tx);
    gpu_tensor_destroy(ctx, ty);
    return s;
}

vkllm_status matmul_tune_coopmat(gpu_ctx *ctx, const matmul_tune_shape *shapes, uint32_t n_shapes, uint32_t M,
                                 matmul_tc_result *out)
{
    *out = (matmul_tc_result){ 0 };
    matmul_config v[4];
    const uint32_t n = matmul_coopmat_variants(ctx, v);
    for (uint32_t i = 0; i < n; i++) out->bk[i] = v[i].bk;
    out->n = n;
    if (n < 2) return VKLLM_OK; /* nothing to choose */
    uint64_t max_x = 1, max_y = 1;
    for (uint32_t i = 0; i < n_shapes; i++) {
        if (shapes[i].glu) return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "matmul tune: tensor-core shapes are plain");
        if ((uint64_t)M * shapes[i].K > max_x) max_x = (uint64_t)M * shapes[i].K;
        if ((uint64_t)M * shapes[i].N > max_y) max_y = (uint64_t)M * shapes[i].N;
    }
    gpu_tensor *tx = NULL, *ty = NULL;
    gpu_rec *rec = NULL;
    vkllm_status s = gpu_rec_begin(ctx, 0, &rec);
    if (s == VKLLM_OK) {
        gpu_rec_note(rec, gpu_tensor_create(ctx, 4 * max_x, 0, &tx));
        gpu_rec_note(rec, gpu_tensor_create(ctx, 4 * max_y, 0, &ty));
        gpu_rec_fill(rec, gpu_bind(tx), 4 * max_x, 0x3c003c00u); /* 0.0078, not zeros */
        s = gpu_rec_end(rec);
    }
    if (s == VKLLM_OK) s = gpu_rec_submit(rec);
    gpu_rec_destroy(rec);
    double flop = 0, best_us[4] = { 1e300, 1e300, 1e300, 1e300 };
    for (uint32_t i = 0; i < n_shapes; i++) flop += 2.0 * M * shapes[i].N * shapes[i].K * shapes[i].n;
    for (uint32_t round = 0; round < ROUNDS && s == VKLLM_OK; round++)
        for (uint32_t c = 0; c < n && s == VKLLM_OK; c++) {
            double total = 0;
            for (uint32_t i = 0; i < n_shapes && s == VKLLM_OK; i++) {
                double us;
                s = time_config(ctx, &shapes[i], &v[c], gpu_bind(tx), gpu_bind(ty), M, &us);
                total += us;
            }
            if (s == VKLLM_OK && total < best_us[c]) best_us[c] = total;
        }
    if (s == VKLLM_OK) {
        uint32_t b = 0;
        for (uint32_t c = 0; c < n; c++) {
            out->tflops[c] = flop / best_us[c] * 1e-6;
            if (best_us[c] < best_us[b]) b = c;
        }
        out->chosen = b;
        matmul_use_coopmat(ctx, v[b].bk);
    }
    gpu_tensor_destroy(ctx, tx);
    gpu_tensor_destroy(ctx, ty);
    return s;
}
