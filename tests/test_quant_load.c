/* Quantize on load (vkllm_load_options.quant, model_plan_quant, the
 * quantizing upload of src/llama/weights_quant.c) against `vkllm quantize`:
 *   - for generated F16 / BF16 / F32 models (GGUF and HF folder, tied and
 *     untied, rows of 256, the fallbacks of smaller rows, rows no block type
 *     fits) the weights on the device are byte for byte those of the file
 *     vkllm_quantize writes for the same source and type (an HF folder's q/k
 *     rows in its own order: compared through the permutation), and so are
 *     the logits (GGUF: bit-identical; HF: the same weights in the other RoPE
 *     pairing, equal within float rounding of the attention sums);
 *   - the logits equal the CPU reference forward pass on the file's
 *     dequantized weights (tests/test_llama.c's tolerance);
 *   - the description (vkllm_model_inspect_quant, vkllm_model_get_info) is
 *     the quantized file's: same types, same device bytes, so the same fit;
 *   - the chunk stream gives every row exactly once, in order, with many
 *     more chunks than buffers;
 *   - all of it twice: the blocks made on the device (shaders/quantize.comp,
 *     the profile's quantize_on_device) and by the CPU's threads, each
 *     checked to have been the path taken (iq4_xs: IQ4_XS and a Q6_K output);
 *   - in pieces of 1 KiB (VKLLM_QUANTIZE_PIECE_BYTES): hundreds of pieces,
 *     two in flight, and the matrices whose rows exceed a piece on the CPU
 *     in the same load: weights and logits identical to the all-CPU load's;
 *   - refused: an unknown type (the message lists the valid ones), an
 *     already quantized source, a NaN weight (named with its row; both
 *     paths; in small pieces, the first bad row whichever piece holds it).
 * argv[1]: a scratch folder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "harness.h"
#include "logits_diff.h"
#include "llama/llama_internal.h"
#include "model/model.h"
#include "model/quant.h"
#include "model_util.h" /* expect.h */
#include "ops/profile.h"
#include "loaded_model.h"
#include "ref_llama.h"
#include "util/rng.h"

#define TOL 1e-3    /* GPU vs CPU reference, relative to the largest |logit| (test_llama.c) */
/* HF: the same weights (checked byte for byte) in the other RoPE pairing, so
 * the attention sums run in another order; a K/V value near an fp16
 * rounding boundary may then round the other way: test_llama.c's GGUF vs HF
 * tolerance */
#define TOL_HF TOL
#define P 9         /* prompt tokens */
#define N_CTX 32

/* GGUF row r of a q/k matrix of `heads` heads holds HF row hf_row(r) (llama.cpp's permutation) */
static uint64_t hf_row(uint64_t rows, uint32_t heads, uint64_t r)
{
    uint64_t hd = rows / heads, h = r / hd, w = r % hd;
    return h * hd + (w % 2) * (hd / 2) + w / 2;
}

/* The device bytes of `a` (the file's tensor) and `b` (quantized on load)
 * row by row; perm_heads: b's rows are in HF order. 1 if identical. */
static int same_rows(gpu_ctx *ctx, gpu_tensor *a, gpu_tensor *b, const model_tensor *mt, uint32_t perm_heads,
                     const char *label)
{
    uint64_t na = gpu_tensor_bytes(a), nb = gpu_tensor_bytes(b);
    uint8_t *da = malloc(na), *db = malloc(nb);
    int ok = na == nb && da && db && gpu_download(ctx, a, 0, da, na) == VKLLM_OK && gpu_download(ctx, b, 0, db, nb) == VKLLM_OK;
    EXPECT(ok, "%s %s: device sizes %llu vs %llu, or a download failed", label, mt->name, (unsigned long long)na,
           (unsigned long long)nb);
    const uint64_t rb = na / mt->rows; /* padding (< 16 bytes) lies past the last row */
    for (uint64_t r = 0; ok && r < mt->rows; r++) {
        uint64_t rs = perm_heads ? hf_row(mt->rows, perm_heads, r) : r;
        if (memcmp(da + r * rb, db + rs * rb, rb) != 0) {
            EXPECT(0, "%s %s: row %llu differs from the file's", label, mt->name, (unsigned long long)r);
            ok = 0;
        }
    }
    free(da);
    free(db);
    return ok;
}

/* Every weight tensor of f (the file) against q (quantized on load); returns the number compared. */
static int compare_weights(gpu_ctx *ctx, const loaded *f, const loaded *q, const char *label)
{
    const int hf = q->m->rope_pairing == ROPE_ROTATE_HALF;
    int n = 0;
    n += same_rows(ctx, f->w->tok_embd, q->w->tok_embd, f->m->tok_embd, 0, label);
    n += same_rows(ctx, f->w->output_norm, q->w->output_norm, f->m->output_norm, 0, label);
    if (!f->w->tied) n += same_rows(ctx, f->w->output, q->w->output, f->m->output, 0, label);
    for (uint32_t l = 0; l < f->m->hp.n_layer; l++) {
        const llama_layer *a = &f->w->layers[l], *b = &q->w->layers[l];
        const model_layer *ml = &f->m->layers[l];
        n += same_rows(ctx, a->attn_norm, b->attn_norm, ml->attn_norm, 0, label);
        n += same_rows(ctx, a->wq, b->wq, ml->wq, hf ? f->m->hp.n_head : 0, label);
        n += same_rows(ctx, a->wk, b->wk, ml->wk, hf ? f->m->hp.n_head_kv : 0, label);
        n += same_rows(ctx, a->wv, b->wv, ml->wv, 0, label);
        n += same_rows(ctx, a->wo, b->wo, ml->wo, 0, label);
        n += same_rows(ctx, a->ffn_norm, b->ffn_norm, ml->ffn_norm, 0, label);
        n += same_rows(ctx, a->w_gate, b->w_gate, ml->w_gate, 0, label);
        n += same_rows(ctx, a->w_up, b->w_up, ml->w_up, 0, label);
        n += same_rows(ctx, a->w_down, b->w_down, ml->w_down, 0, label);
    }
    return n;
}

/* src quantized to `quant` by vkllm_quantize (into dir) and on load: same
 * weights, same logits, the reference's logits, the same description. */
static void check_case(gpu_ctx *ctx, const char *dir, const char *src, const char *label, const char *quant,
                       uint64_t seed, bool on_device)
{
    ops_profile_of(ctx)->quantize_on_device = on_device;
    char file[1024], err[1024];
    snprintf(file, sizeof file, "%s/%s-%s.gguf", dir, label, quant);
    vkllm_quantize_options qo = { .type = quant, .overwrite = 1 };
    vkllm_status st = vkllm_quantize(src, file, &qo, NULL, err, sizeof err);
    EXPECT(st == VKLLM_OK, "%s %s: vkllm_quantize: %s", label, quant, err);
    if (st != VKLLM_OK) return;
    loaded f, q;
    if (!load_model(ctx, file, NULL, N_CTX, 4, &f)) return;
    if (!load_model(ctx, src, quant, N_CTX, 4, &q)) {
        unload(&f);
        return;
    }
    int n_quant = 0, n_device = 0;
    for (size_t i = 0; i < q.m->n_tensors; i++) {
        n_quant += q.m->tensors[i].load_qtype != 0;
        n_device += q.m->tensors[i].load_qtype && qdevice_takes(ctx, &q.m->tensors[i]);
    }
    EXPECT(n_quant > 0, "%s %s: nothing planned for quantizing", label, quant);
    EXPECT(on_device ? n_device > 0 : n_device == 0, "%s %s: %d of %d tensors quantized on the device, want %s", label,
           quant, n_device, n_quant, on_device ? "some" : "none");
    EXPECT(llama_weights_bytes(f.w) == llama_weights_bytes(q.w), "%s %s: %llu device bytes, the file's %llu", label,
           quant, (unsigned long long)llama_weights_bytes(q.w), (unsigned long long)llama_weights_bytes(f.w));
    int n_same = compare_weights(ctx, &f, &q, label);

    const uint32_t V = f.m->hp.n_vocab;
    int32_t toks[P];
    rng r = { seed };
    for (int i = 0; i < P; i++) toks[i] = (int32_t)rng_below(&r, V);
    float *lf = malloc((size_t)P * V * 4), *lq = malloc((size_t)P * V * 4), *lr = malloc((size_t)P * V * 4);
    st = llama_eval(f.s, toks, P, LLAMA_OUT_ALL, lf, NULL);
    if (st == VKLLM_OK) st = llama_eval(q.s, toks, P, LLAMA_OUT_ALL, lq, NULL);
    EXPECT(st == VKLLM_OK, "%s %s: eval: %s", label, quant, gpu_error(ctx));
    const int hf = q.m->rope_pairing == ROPE_ROTATE_HALF;
    double d_file = rel_diff(lq, lf, (size_t)P * V), d_ref = -1;
    if (hf) EXPECT(d_file < TOL_HF, "%s %s: logits vs the file's: rel diff %.3e", label, quant, d_file);
    else EXPECT(memcmp(lq, lf, (size_t)P * V * 4) == 0, "%s %s: logits not bit-identical to the file's (rel diff %.3e)",
                label, quant, d_file);
    ref_llama *ref = ref_llama_create(f.m, N_CTX, err, sizeof err); /* the file's dequantized weights */
    EXPECT(ref, "%s %s: reference: %s", label, quant, err);
    if (ref && ref_llama_forward(ref, toks, P, lr, NULL) == 0) {
        d_ref = rel_diff(lq, lr, (size_t)P * V);
        EXPECT(d_ref < TOL, "%s %s: quantized on load vs the reference: rel diff %.3e", label, quant, d_ref);
    }
    ref_llama_destroy(ref);

    /* the description, and so the fit check: the quantized file's */
    vkllm_model_info a, b;
    st = vkllm_model_inspect(file, &a, err, sizeof err);
    if (st == VKLLM_OK) st = vkllm_model_inspect_quant(src, quant, &b, err, sizeof err);
    EXPECT(st == VKLLM_OK, "%s %s: inspect: %s", label, quant, err);
    if (st == VKLLM_OK) {
        EXPECT(a.device_weight_bytes == b.device_weight_bytes && a.decode_bytes_per_token == b.decode_bytes_per_token,
               "%s %s: device bytes %llu / %llu per token, the file's %llu / %llu", label, quant,
               (unsigned long long)b.device_weight_bytes, (unsigned long long)b.decode_bytes_per_token,
               (unsigned long long)a.device_weight_bytes, (unsigned long long)a.decode_bytes_per_token);
        /* (an HF folder's norms are listed as the folder has them, F16; the file holds them as F32) */
        EXPECT(hf || strcmp(a.tensor_types, b.tensor_types) == 0, "%s %s: types '%s', the file's '%s'", label, quant,
               b.tensor_types, a.tensor_types);
        EXPECT(b.file_bytes != a.file_bytes, "%s %s: file_bytes should stay the source's", label, quant);
    }
    printf("%-14s %-7s %2d quantized on load (%2d on the device), %d tensors identical to the file's, logits vs file "
           "%.2e%s, vs reference %.2e\n", label, quant, n_quant, n_device, n_same, d_file,
           hf ? "" : " (bit-identical required)", d_ref);
    free(lf);
    free(lq);
    free(lr);
    unload(&q);
    unload(&f);
}

/* The public API: vkllm_load_options.quant gives what loading the file gives,
 * with each scale search (quant_search, vkllm_quantize_options.search) and
 * with the default one, which is the device's way: exact where the device
 * quantizes, fast where the CPU does (on_device: VKLLM_QUANTIZE_ON). */
static void check_api_search(const char *dir, const char *src, const char *quant, const char *search, int on_device)
{
    char file[1024], err[1024];
    const char *want = search ? search : on_device ? "exact" : "fast";
    setenv("VKLLM_QUANTIZE_ON", on_device ? "device" : "cpu", 1); /* read by the context's profile */
    vkllm_load_options lo = { .validate = 1, .n_ctx = N_CTX, .quant = quant, .quant_search = search };
    vkllm_model *mf = NULL, *mq = NULL;
    vkllm_status st = vkllm_model_load(src, &lo, &mq, err, sizeof err);
    unsetenv("VKLLM_QUANTIZE_ON");
    snprintf(file, sizeof file, "%s/api-%s-%s.gguf", dir, quant, want);
    vkllm_quantize_options qo = { .type = quant, .overwrite = 1, .search = want };
    if (st == VKLLM_OK) st = vkllm_quantize(src, file, &qo, NULL, err, sizeof err);
    lo.quant = NULL;
    lo.quant_search = NULL;
    if (st == VKLLM_OK) st = vkllm_model_load(file, &lo, &mf, err, sizeof err);
    EXPECT(st == VKLLM_OK, "api %s %s: %s", quant, want, err);
    vkllm_session *sf = NULL, *sq = NULL;
    vkllm_session_options so = { .n_ctx = N_CTX };
    if (st == VKLLM_OK) st = vkllm_session_create(mf, &so, &sf, err, sizeof err);
    if (st == VKLLM_OK) st = vkllm_session_create(mq, &so, &sq, err, sizeof err);
    if (st == VKLLM_OK) {
        const vkllm_model_info *a = vkllm_model_get_info(mf), *b = vkllm_model_get_info(mq);
        EXPECT(strcmp(a->tensor_types, b->tensor_types) == 0 && a->device_weight_bytes == b->device_weight_bytes,
               "api %s: info '%s' %llu, the file's '%s' %llu", quant, b->tensor_types,
               (unsigned long long)b->device_weight_bytes, a->tensor_types, (unsigned long long)a->device_weight_bytes);
        EXPECT(strcmp(b->quant_search, want) == 0 && a->quant_search[0] == 0,
               "api %s: quant_search '%s' (the file's '%s'), want '%s'", quant, b->quant_search, a->quant_search, want);
        const uint32_t V = a->n_vocab;
        int32_t toks[P] = { 1, 5, 9, 200, 17, 3, 250, 4, 99 };
        float *lf = malloc((size_t)V * 4), *lq = malloc((size_t)V * 4);
        st = vkllm_session_eval(sf, toks, P, VKLLM_LOGITS_LAST, lf, NULL);
        if (st == VKLLM_OK) st = vkllm_session_eval(sq, toks, P, VKLLM_LOGITS_LAST, lq, NULL);
        EXPECT(st == VKLLM_OK, "api %s: eval failed", quant);
        EXPECT(st != VKLLM_OK || memcmp(lf, lq, (size_t)V * 4) == 0, "api %s %s: logits differ from the file's", quant,
               want);
        free(lf);
        free(lq);
        EXPECT(vkllm_model_validation_messages(mq, NULL) == 0, "api %s: validation messages", quant);
    }
    vkllm_session_free(sf);
    vkllm_session_free(sq);
    vkllm_model_free(mf);
    vkllm_model_free(mq);
    printf("api            %-7s vkllm_model_load(.quant, .quant_search %s, on the %s) == the file vkllm_quantize "
           "wrote (%s)\n", quant, search ? search : "NULL", on_device ? "device" : "cpu", want);
}

/* every search and default (all), or the two searches on the CPU's threads */
static void check_api(const char *dir, const char *src, const char *quant, int all)
{
    check_api_search(dir, src, quant, "exact", all);
    check_api_search(dir, src, quant, "fast", all); /* (fast: the CPU's threads even so; the shader's is exact) */
    if (!all) return;
    check_api_search(dir, src, quant, NULL, 0);
    check_api_search(dir, src, quant, NULL, 1);
}

/* The chunk stream on its own, in chunks of a few rows: many more chunks
 * than buffers, and rows that span tensors' ends. */
static void check_stream(const char *src, const char *quant)
{
    char err[512];
    model *m;
    if (model_open(src, &m, err, sizeof err) != VKLLM_OK || model_plan_quant(m, quant, err, sizeof err) != VKLLM_OK) {
        EXPECT(0, "stream: %s", err);
        return;
    }
    const model_tensor *ts[64];
    size_t n = 0;
    for (size_t i = 0; i < m->n_tensors && n < 64; i++)
        if (m->tensors[i].load_qtype) ts[n++] = &m->tensors[i];
    qstream *q;
    vkllm_status st = qstream_start(ts, n, 1000, &q);
    EXPECT(st == VKLLM_OK, "stream: start");
    size_t n_chunks = 0;
    for (size_t i = 0; st == VKLLM_OK && i < n; i++) {
        uint8_t *want = malloc(ts[i]->load_bytes), *got = calloc(1, ts[i]->load_bytes);
        float *scratch = malloc(ts[i]->cols * sizeof *scratch);
        uint64_t bad = 0, at = 0;
        EXPECT(model_quant_rows(ts[i], 0, ts[i]->rows, scratch, want, &bad), "stream: %s: rows", ts[i]->name);
        while (at < ts[i]->load_bytes) {
            const void *data;
            uint64_t bytes, offset;
            if (!qstream_next(q, ts[i], &data, &bytes, &offset)) {
                EXPECT(0, "stream: %s: no chunk at byte %llu", ts[i]->name, (unsigned long long)at);
                break;
            }
            EXPECT(offset == at && offset + bytes <= ts[i]->load_bytes, "stream: %s: chunk at %llu, want %llu",
                   ts[i]->name, (unsigned long long)offset, (unsigned long long)at);
            if (offset + bytes <= ts[i]->load_bytes) memcpy(got + offset, data, bytes);
            qstream_release(q);
            at = offset + bytes;
            n_chunks++;
        }
        EXPECT(memcmp(want, got, ts[i]->load_bytes) == 0, "stream: %s: blocks differ from model_quant_rows'",
               ts[i]->name);
        free(want);
        free(got);
        free(scratch);
    }
    const void *data;
    uint64_t bytes, offset;
    EXPECT(!qstream_next(q, ts[0], &data, &bytes, &offset), "stream: a chunk past the end");
    printf("stream         %-7s %zu tensors in %zu chunks on %u threads + the caller\n", quant, n, n_chunks,
           qstream_threads(q));
    qstream_stop(q);
    model_close(m);
}

static void check_refusals(const char *dir, const char *src, const char *quantized)
{
    char err[1024];
    vkllm_load_options lo = { .validate = 1, .quant = "q4_k_q" };
    vkllm_model *m = NULL;
    vkllm_model_info info;
    tu_expect("unknown type", vkllm_model_load(src, &lo, &m, err, sizeof err), err, VKLLM_ERR_INVALID_ARG,
              "unknown quantization type 'q4_k_q'", "q4_k_m", "q8_0", "iq4_xs", NULL);
    EXPECT(!m, "unknown type: a model came back");
    lo.quant = "f16";
    tu_expect("f16 is no quantization", vkllm_model_load(src, &lo, &m, err, sizeof err), err, VKLLM_ERR_INVALID_ARG,
              "unknown quantization type 'f16'", NULL);
    tu_expect("inspect: unknown type", vkllm_model_inspect_quant(src, "q3", &info, err, sizeof err), err,
              VKLLM_ERR_INVALID_ARG, "'q3'", "q3_k_m", NULL);
    lo.quant = "Q4_K_M";
    tu_expect("already quantized", vkllm_model_load(quantized, &lo, &m, err, sizeof err), err, VKLLM_ERR_UNSUPPORTED,
              "is already quantized", "without a quantization type", NULL);
    tu_expect("inspect: already quantized", vkllm_model_inspect_quant(quantized, "q8_0", &info, err, sizeof err), err,
              VKLLM_ERR_UNSUPPORTED, "is already quantized", NULL);

    /* a NaN in row 7 of blk.1.ffn_up.weight */
    char *bad = tu_path(dir, "nan.gguf");
    model *mo;
    const model_tensor *t = NULL;
    if (tu_copy(src, bad) && model_open(bad, &mo, err, sizeof err) == VKLLM_OK) {
        t = model_find(mo, "blk.1.ffn_up.weight");
        uint64_t at = t ? t->file_offset + (7 * t->cols + 3) * 2 : 0;
        model_close(mo);
        size_t n;
        uint8_t *bytes = t ? tu_read(bad, &n) : NULL;
        if (bytes && at + 2 <= n) {
            bytes[at] = 0x00, bytes[at + 1] = 0x7e; /* fp16 NaN */
            tu_write(bad, bytes, n);
        }
        free(bytes);
    }
    EXPECT(t, "nan: no blk.1.ffn_up.weight to spoil");
    lo.quant = "q4_k_m";
    for (int on_device = 0; on_device < 2; on_device++) { /* (the context's profile reads it) */
        setenv("VKLLM_QUANTIZE_ON", on_device ? "device" : "cpu", 1);
        tu_expect(on_device ? "NaN weight (device)" : "NaN weight (cpu)", vkllm_model_load(bad, &lo, &m, err, sizeof err),
                  err, VKLLM_ERR_FORMAT, "tensor 'blk.1.ffn_up.weight' row 7 holds NaN or Inf", NULL);
        EXPECT(!m, "NaN weight: a model came back");
    }
    unsetenv("VKLLM_QUANTIZE_ON");
    free(bad);
    lo.quant_search = "fastest";
    tu_expect("unknown search", vkllm_model_load(src, &lo, &m, err, sizeof err), err, VKLLM_ERR_INVALID_ARG,
              "unknown quant_search 'fastest'", "exact, fast", NULL);
    lo.quant = NULL;
    lo.quant_search = "fast";
    tu_expect("search without quant", vkllm_model_load(src, &lo, &m, err, sizeof err), err, VKLLM_ERR_INVALID_ARG,
              "quant_search 'fast' without quant", NULL);
    EXPECT(!m, "search refusals: a model came back");
    printf("refusals       unknown type, f16, already quantized, NaN weight, unknown search, search without quant\n");
}

/* A copy of src at dst with fp16 weights of tensor `name` spoiled: row
 * rows[i] gets a NaN (even i) or -Inf (odd i) at column 3. 1 if done. */
static int spoil(const char *src, const char *dst, const char *name, const uint64_t *rows, int n_rows)
{
    char err[512];
    model *mo;
    if (!tu_copy(src, dst) || model_open(dst, &mo, err, sizeof err) != VKLLM_OK) return 0;
    const model_tensor *t = model_find(mo, name);
    uint64_t off = t ? t->file_offset : 0, cols = t ? t->cols : 0;
    int ok = t && t->dtype == DTYPE_F16;
    model_close(mo);
    size_t n;
    uint8_t *bytes = ok ? tu_read(dst, &n) : NULL;
    for (int i = 0; bytes && i < n_rows; i++) {
        uint64_t at = off + (rows[i] * cols + 3) * 2;
        ok = ok && at + 2 <= n;
        if (ok) bytes[at] = 0x00, bytes[at + 1] = i % 2 ? 0xfc : 0x7e; /* fp16 -Inf, NaN */
    }
    ok = ok && bytes && tu_write(dst, bytes, n);
    free(bytes);
    return ok;
}

#define PIECE_BYTES "1024" /* two rows of 256 fp16 weights; ffn_down's rows of 768 do not fit */

/* The device's quantize on load in small pieces (VKLLM_QUANTIZE_PIECE_BYTES):
 * hundreds of them, QD_PIECES in flight, while the matrices whose rows are
 * longer than a piece take the CPU's threads in the same load. The weights
 * are byte for byte, and the logits bit for bit, the all-CPU load's. */
static void check_pieces(gpu_ctx *ctx, const char *src, const char *quant, uint64_t seed, bool serial)
{
    ops_profile *prof = ops_profile_of(ctx);
    const bool was = prof->quantize_on_device;
    loaded c, d;
    prof->quantize_on_device = false;
    int ok = load_model(ctx, src, quant, N_CTX, 4, &c);
    prof->quantize_on_device = true;
    setenv("VKLLM_QUANTIZE_PIECE_BYTES", PIECE_BYTES, 1);
    if (serial) setenv("VKLLM_QUANTIZE_PIECES", "1", 1); /* each piece waited for, as before the overlap */
    if (ok && !load_model(ctx, src, quant, N_CTX, 4, &d)) {
        unload(&c);
        ok = 0;
    }
    int n_device = 0, n_cpu = 0;
    uint64_t n_pieces = 0;
    for (size_t i = 0; ok && i < d.m->n_tensors; i++) {
        const model_tensor *t = &d.m->tensors[i];
        if (!t->load_qtype) continue;
        if (!qdevice_takes(ctx, t)) {
            n_cpu++;
            continue;
        }
        const uint64_t per = atoi(PIECE_BYTES) / (t->cols * 2);
        n_device++;
        n_pieces += (t->rows + per - 1) / per;
    }
    unsetenv("VKLLM_QUANTIZE_PIECE_BYTES");
    unsetenv("VKLLM_QUANTIZE_PIECES");
    prof->quantize_on_device = was;
    if (!ok) return;
    EXPECT(n_device > 0 && n_cpu > 0, "pieces %s: %d tensors quantized on the device, %d on the CPU: want both", quant,
           n_device, n_cpu);
    EXPECT(n_pieces > 100, "pieces %s: only %llu pieces", quant, (unsigned long long)n_pieces);
    int n_same = compare_weights(ctx, &c, &d, "pieces");
    const uint32_t V = c.m->hp.n_vocab;
    int32_t toks[P];
    rng r = { seed };
    for (int i = 0; i < P; i++) toks[i] = (int32_t)rng_below(&r, V);
    float *lc = malloc((size_t)P * V * 4), *ld = malloc((size_t)P * V * 4);
    vkllm_status st = lc && ld ? llama_eval(c.s, toks, P, LLAMA_OUT_ALL, lc, NULL) : VKLLM_ERR_OUT_OF_MEMORY;
    if (st == VKLLM_OK) st = llama_eval(d.s, toks, P, LLAMA_OUT_ALL, ld, NULL);
    EXPECT(st == VKLLM_OK, "pieces %s: eval: %s", quant, gpu_error(ctx));
    EXPECT(st != VKLLM_OK || memcmp(lc, ld, (size_t)P * V * 4) == 0,
           "pieces %s: logits not bit-identical to the all-CPU load's (rel diff %.3e)", quant,
           rel_diff(ld, lc, (size_t)P * V));
    printf("pieces         %-7s %d tensors in %llu pieces of %s bytes on the device (%s), %d on the CPU; %d tensors "
           "and the logits identical to the all-CPU load's\n", quant, n_device, (unsigned long long)n_pieces, PIECE_BYTES,
           serial ? "one at a time" : "two in flight", n_cpu, n_same);
    free(lc);
    free(ld);
    unload(&d);
    unload(&c);
}

/* NaN/Inf rows in small pieces, two in flight: the error names the
 * tensor's first bad row, whichever piece holds it, on both paths. */
static void check_pieces_nan(gpu_ctx *ctx, const char *dir, const char *src)
{
    static const struct {
        uint64_t rows[2];
        int n;
        uint64_t want;
        const char *what;
    } cases[] = {
        { { 3, 4 }, 2, 3, "the second piece bad, the third (in flight when it is checked) too" },
        { { 767 }, 1, 767, "the last piece bad (checked after the loop)" },
        { { 765, 766 }, 2, 765, "the last two pieces bad (both in flight after the loop)" },
    };
    ops_profile *prof = ops_profile_of(ctx);
    const bool was = prof->quantize_on_device;
    char *bad = tu_path(dir, "pieces-nan.gguf");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!spoil(src, bad, "blk.0.ffn_up.weight", cases[i].rows, cases[i].n)) {
            EXPECT(0, "pieces nan: no blk.0.ffn_up.weight to spoil");
            break;
        }
        char want[128];
        snprintf(want, sizeof want, "tensor 'blk.0.ffn_up.weight' row %llu holds NaN or Inf",
                 (unsigned long long)cases[i].want);
        for (int on_device = 1; on_device >= 0; on_device--) {
            char err[512];
            model *m = NULL;
            llama_weights *w = NULL;
            vkllm_status st = model_open(bad, &m, err, sizeof err);
            if (st == VKLLM_OK) st = model_plan_quant(m, "q4_k_m", err, sizeof err);
            EXPECT(st == VKLLM_OK, "pieces nan: open: %s", err);
            if (st == VKLLM_OK) {
                prof->quantize_on_device = on_device;
                setenv("VKLLM_QUANTIZE_PIECE_BYTES", PIECE_BYTES, 1);
                const model_tensor *t = model_find(m, "blk.0.ffn_up.weight");
                EXPECT(t && qdevice_takes(ctx, t) == on_device, "pieces nan: ffn_up not on the %s",
                       on_device ? "device" : "CPU");
                st = llama_weights_load(ctx, m, NULL, NULL, &w);
                unsetenv("VKLLM_QUANTIZE_PIECE_BYTES");
                prof->quantize_on_device = was;
                EXPECT(st == VKLLM_ERR_FORMAT && !w && strstr(gpu_error(ctx), want),
                       "pieces nan (%s, %s): status %d, '%s', want '%s'", cases[i].what, on_device ? "device" : "cpu",
                       (int)st, gpu_error(ctx), want);
            }
            llama_weights_free(w);
            model_close(m);
        }
    }
    free(bad);
    printf("pieces nan     the first bad row named with pieces in flight (second, last, last two pieces; device and cpu)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: test_quant_load SCRATCH_DIR\n");
        return 2;
    }
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    const char *dir = argv[1];
    if (!tu_scratch(dir)) return 2;
    char err[512];
#define BASE .rope_theta = 10000.0, .rms_eps = 1e-5, .n_ctx = 64, .n_vocab = 300
    /* rows of 256: the schemes' own types (use_more_bits gives attn_v / ffn_down Q6_K in the last layer) */
    gen_params big = { BASE, .n_layer = 3, .n_embd = 256, .n_ff = 512, .n_head = 4, .n_head_kv = 2, .dtype = DTYPE_F16,
                       .seed = seed };
    gen_params tied = { BASE, .n_layer = 2, .n_embd = 256, .n_ff = 256, .n_head = 2, .n_head_kv = 1, .tied = 1,
                        .dtype = DTYPE_BF16, .seed = seed + 1 };
    gen_params small = { BASE, .n_layer = 2, .n_embd = 64, .n_ff = 96, .n_head = 4, .n_head_kv = 2, .dtype = DTYPE_F32,
                         .seed = seed + 2 }; /* rows of 64 and 96: Q5_0 / Q8_0 / IQ4_NL fallbacks */
    gen_params mixed = { BASE, .n_layer = 2, .n_embd = 96, .n_ff = 80, .n_head = 3, .n_head_kv = 1, .dtype = DTYPE_F16,
                         .seed = seed + 3 }; /* ffn_down's rows of 80: no block type fits, kept F16 */
    gen_params pieces = { BASE, .n_layer = 1, .n_embd = 256, .n_ff = 768, .n_head = 4, .n_head_kv = 2,
                          .dtype = DTYPE_F16, .seed = seed + 4 }; /* rows of 512 bytes and (ffn_down) 1536 */
    char *pieces_gguf = tu_path(dir, "pieces.gguf");
    char *mixed_gguf = tu_path(dir, "mixed.gguf");
    char *big_gguf = tu_path(dir, "big.gguf"), *big_hf = tu_path(dir, "big-hf"), *tied_gguf = tu_path(dir, "tied.gguf"),
         *small_hf = tu_path(dir, "small-hf");
    if (gen_write_gguf(&big, big_gguf, err, sizeof err) || gen_write_hf(&big, big_hf, err, sizeof err) ||
        gen_write_gguf(&tied, tied_gguf, err, sizeof err) || gen_write_hf(&small, small_hf, err, sizeof err) ||
        gen_write_gguf(&mixed, mixed_gguf, err, sizeof err) || gen_write_gguf(&pieces, pieces_gguf, err, sizeof err)) {
        printf("FAIL generate: %s\n", err);
        return 1;
    }
    for (int on_device = 1; on_device >= 0; on_device--) {
        printf("-- quantized %s\n", on_device ? "on the device" : "by the CPU's threads");
        check_case(ctx, dir, big_gguf, "f16-gguf", "q4_k_m", seed + 10, on_device);
        check_case(ctx, dir, big_hf, "f16-hf", "q4_k_m", seed + 12, on_device);
        check_case(ctx, dir, tied_gguf, "bf16-tied", "q5_k_s", seed + 13, on_device);
        check_case(ctx, dir, small_hf, "f32-small-hf", "q4_k_m", seed + 14, on_device);
        check_case(ctx, dir, small_hf, "f32-small-hf", "q8_0", seed + 15, on_device);
        check_case(ctx, dir, mixed_gguf, "f16-mixed", "q4_k_m", seed + 16, on_device);
        check_case(ctx, dir, big_gguf, "f16-gguf", "iq4_xs", seed + 17, on_device);
    }
    check_pieces(ctx, pieces_gguf, "q8_0", seed + 20, false);
    check_pieces(ctx, pieces_gguf, "q4_k_m", seed + 21, false);
    check_pieces(ctx, pieces_gguf, "q8_0", seed + 22, true);
    check_pieces_nan(ctx, dir, pieces_gguf);
    check_api(dir, big_gguf, "q4_0", 1);
    check_api(dir, big_gguf, "q3_k_m", 0); /* Q3_K, Q4_K/Q5_K and Q6_K: both searches of each */
    check_stream(big_gguf, "q4_k_m");
    char *quantized = tu_path(dir, "f16-gguf-q4_k_m.gguf");
    check_refusals(dir, big_gguf, quantized);
    free(quantized);
    free(big_gguf);
    free(big_hf);
    free(tied_gguf);
    free(small_hf);
    free(mixed_gguf);
    free(pieces_gguf);
    tu_rmtree(dir);
    return harness_finish(ctx, tu_failures);
}
