/* Quantize on load, two ways:
 *   - on the CPU (qstream): worker threads quantize the planned matrices
 *     (model_plan_quant) in the order the upload asks for them, chunk by
 *     chunk of whole rows, into a small ring of host buffers, while the
 *     loading thread uploads the chunks already done. Host memory: QS_SLOTS
 *     buffers of QS_SLOT_BYTES plus a row of floats per thread, whatever the
 *     model's size.
 *   - on the device (qdevice): the source rows go up in pieces and
 *     shaders/quantize.comp makes the blocks in the weight's own buffer,
 *     one piece going up while the device quantizes the one before. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "llama_internal.h"
#include "model/quant.h"
#include "ops/profile.h"
#include "ops/quantize_gpu.h"
#include "util/plat.h"

#define QS_SLOTS 4
#define QS_SLOT_BYTES (8u << 20)  /* quantized bytes per chunk, by default */
#define QS_CLAIM_WEIGHTS 32768    /* weights a thread takes at a time */
#define QS_MAX_THREADS 64

typedef struct qs_chunk {
    size_t tensor;   /* index into ts */
    uint64_t r0, r1; /* rows */
} qs_chunk;

typedef struct qs_slot {
    uint8_t *buf;       /* [QS_SLOT_BYTES or one row] */
    size_t chunk;       /* the chunk it holds or is being filled with; SIZE_MAX: none yet */
    uint64_t next_row;  /* the next row no thread has taken */
    uint64_t rows_done;
} qs_slot;

typedef struct qs_worker {
    struct qstream *q;
    float *scratch; /* [max_cols] */
    pthread_t th;
    int started;
} qs_worker;

struct qstream {
    const model_tensor *const *ts;
    size_t n_ts;
    qs_chunk *chunks;
    size_t n_chunks;
    qs_slot slot[QS_SLOTS];
    pthread_mutex_t mu;
    pthread_cond_t work;  /* a slot came free, or stop */
    pthread_cond_t ready; /* a chunk is complete, or a row was bad */
    size_t fill;          /* the lowest chunk that may still have rows no thread has taken */
    size_t consumed;      /* chunks handed to the uploader */
    size_t released;      /* chunks uploaded: their slots are free again */
    int stop;
    int bad;              /* a row held NaN/Inf: bad_tensor, bad_row */
    size_t bad_tensor;
    uint64_t bad_row;
    uint64_t max_cols;
    float *main_scratch;  /* the uploading thread's, when it helps while waiting */
    uint32_t n_threads;
    qs_worker worker[QS_MAX_THREADS];
};

static uint64_t row_bytes(const model_tensor *t) { return quant_bytes(quant_type_of(t->load_qtype), t->cols); }

/* Takes and quantizes one batch of rows, if there is one; called with mu
 * held, returns with it held. 0: nothing to take now. */
static int step(qstream *q, float *scratch)
{
    while (q->fill < q->n_chunks && q->fill < q->released + QS_SLOTS) {
        qs_slot *s = &q->slot[q->fill % QS_SLOTS];
        const qs_chunk *c = &q->chunks[q->fill];
        if (s->chunk != q->fill) { /* its slot is free (chunk fill - QS_SLOTS was uploaded): start it */
            s->chunk = q->fill;
            s->next_row = c->r0;
            s->rows_done = 0;
        }
        if (s->next_row < c->r1) break;
        q->fill++;
    }
    if (q->stop || q->bad || q->fill >= q->n_chunks || q->fill >= q->released + QS_SLOTS) return 0;
    qs_slot *s = &q->slot[q->fill % QS_SLOTS];
    const qs_chunk *c = &q->chunks[q->fill];
    const model_tensor *t = q->ts[c->tensor];
    uint64_t take = QS_CLAIM_WEIGHTS / t->cols ? QS_CLAIM_WEIGHTS / t->cols : 1;
    uint64_t r0 = s->next_row, r1 = r0 + take < c->r1 ? r0 + take : c->r1;
    s->next_row = r1;
    uint8_t *dst = s->buf + (r0 - c->r0) * row_bytes(t);
    pthread_mutex_unlock(&q->mu);
    uint64_t bad_row = 0;
    int ok = model_quant_rows(t, r0, r1, scratch, dst, &bad_row);
    pthread_mutex_lock(&q->mu);
    if (!ok && !q->bad) {
        q->bad = 1;
        q->bad_tensor = c->tensor;
        q->bad_row = bad_row;
    }
    s->rows_done += r1 - r0;
    if (!ok || s->rows_done == c->r1 - c->r0) pthread_cond_broadcast(&q->ready);
    return 1;
}

static void *worker_main(void *arg)
{
    qs_worker *w = arg;
    qstream *q = w->q;
    pthread_mutex_lock(&q->mu);
    while (!q->stop && !q->bad && q->fill < q->n_chunks)
        if (!step(q, w->scratch)) pthread_cond_wait(&q->work, &q->mu);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

vkllm_status qstream_start(const model_tensor *const *ts, size_t n, uint64_t chunk_bytes, qstream **out)
{
    *out = NULL;
    qstream *q = calloc(1, sizeof *q);
    if (!q) return VKLLM_ERR_OUT_OF_MEMORY;
    q->ts = ts;
    q->n_ts = n;
    if (!chunk_bytes) chunk_bytes = QS_SLOT_BYTES;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->ready, NULL);
    uint64_t max_row = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t rb = row_bytes(ts[i]), per = chunk_bytes / rb ? chunk_bytes / rb : 1;
        q->n_chunks += (ts[i]->rows + per - 1) / per;
        if (rb > max_row) max_row = rb;
        if (ts[i]->cols > q->max_cols) q->max_cols = ts[i]->cols;
    }
    q->chunks = malloc((q->n_chunks ? q->n_chunks : 1) * sizeof *q->chunks);
    q->main_scratch = malloc(q->max_cols * sizeof(float));
    int ok = q->chunks && q->main_scratch;
    for (size_t i = 0, c = 0; ok && i < n; i++) {
        uint64_t rb = row_bytes(ts[i]), per = chunk_bytes / rb ? chunk_bytes / rb : 1;
        for (uint64_t r = 0; r < ts[i]->rows; r += per)
            q->chunks[c++] = (qs_chunk){ i, r, r + per < ts[i]->rows ? r + per : ts[i]->rows };
    }
    for (int i = 0; i < QS_SLOTS; i++) {
        q->slot[i].chunk = SIZE_MAX;
        q->slot[i].buf = ok ? malloc(max_row > chunk_bytes ? max_row : chunk_bytes) : NULL;
        ok = ok && q->slot[i].buf;
    }
    uint32_t n_threads = plat_cpu_count();
    if (n_threads > QS_MAX_THREADS) n_threads = QS_MAX_THREADS;
    for (uint32_t i = 0; ok && i < n_threads; i++) {
        qs_worker *w = &q->worker[i];
        w->q = q;
        w->scratch = malloc(q->max_cols * sizeof(float));
        /* a thread that cannot start is no error: the uploading thread quantizes too while it waits */
        w->started = w->scratch && pthread_create(&w->th, NULL, worker_main, w) == 0;
        q->n_threads += (uint32_t)w->started;
    }
    if (!ok) {
        qstream_stop(q);
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    *out = q;
    return VKLLM_OK;
}

int qstream_next(qstream *q, const model_tensor *t, const void **data, uint64_t *bytes, uint64_t *offset)
{
    pthread_mutex_lock(&q->mu);
    const size_t c = q->consumed;
    int ok = c < q->n_chunks && q->ts[q->chunks[c].tensor] == t;
    const qs_slot *s = &q->slot[c % QS_SLOTS];
    /* the chunk is complete when its slot holds it and every row is done; help while waiting */
    while (ok && !q->bad && !(s->chunk == c && s->rows_done == q->chunks[c].r1 - q->chunks[c].r0))
        if (!step(q, q->main_scratch)) pthread_cond_wait(&q->ready, &q->mu);
    ok = ok && !q->bad;
    if (ok) {
        const uint64_t rb = row_bytes(t);
        *data = s->buf;
        *offset = q->chunks[c].r0 * rb;
        *bytes = (q->chunks[c].r1 - q->chunks[c].r0) * rb;
        q->consumed++;
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void qstream_release(qstream *q)
{
    pthread_mutex_lock(&q->mu);
    q->released = q->consumed;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
}

int qstream_bad_row(const qstream *q, const model_tensor **t, uint64_t *row)
{
    if (!q->bad) return 0;
    *t = q->ts[q->bad_tensor];
    *row = q->bad_row;
    return 1;
}

uint32_t qstream_threads(const qstream *q) { return q->n_threads; }

void qstream_stop(qstream *q)
{
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    for (uint32_t i = 0; i < QS_MAX_THREADS; i++) {
        if (q->worker[i].started) pthread_join(q->worker[i].th, NULL);
        free(q->worker[i].scratch);
    }
    for (int i = 0; i < QS_SLOTS; i++) free(q->slot[i].buf);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->mu);
    free(q->chunks);
    free(q->main_scratch);
    free(q);
}

/* ------------------------------------------------------------ on the device */

#define QD_SRC_BYTES (16u << 20) /* source bytes per piece, by default */
#define QD_PIECES 2              /* pieces in flight: one uploads while the device quantizes the other */

/* One piece's buffers, used in turn: while its recording runs, the next
 * piece goes up into the other one's src. */
typedef struct qd_piece {
    gpu_tensor *src;       /* [src_bytes]: its source rows */
    gpu_tensor *status;    /* mapped, one word: its first row holding NaN/Inf, 0xffffffff: none */
    gpu_rec *rec;          /* its quantize dispatches while submitted; NULL: free */
    const model_tensor *t; /* what it quantizes: named if a row was bad */
    uint64_t block_bytes;  /* blocks it writes, reported once it is done */
} qd_piece;

struct qdevice {
    gpu_ctx *ctx;
    uint64_t src_bytes;
    uint32_t n_pieces; /* QD_PIECES, or 1 (VKLLM_QUANTIZE_PIECES=1, a measuring aid: each piece waited for) */
    qd_piece piece[QD_PIECES];
    uint32_t next; /* the piece taken next; while busy, the one submitted longest ago */
};

/* Source bytes per piece: 16 MiB, or VKLLM_QUANTIZE_PIECE_BYTES (a testing
 * aid: small pieces make many of them and send matrices whose rows are
 * longer than a piece to the CPU), in whole texels within the device's
 * texel limit (the shader reads src as texels). */
static uint64_t src_bytes(gpu_ctx *ctx)
{
    uint64_t want = QD_SRC_BYTES;
    const char *e = getenv("VKLLM_QUANTIZE_PIECE_BYTES");
    if (e && *e) {
        char *end;
        unsigned long long v = strtoull(e, &end, 10);
        if (!*end && v >= 16) want = v / 16 * 16;
    }
    const uint64_t texels = gpu_max_texels(ctx);
    return texels < want / 16 ? texels * 16 : want;
}

/* rows per piece of `bytes`: as many as fit, an even number where a row
 * has an odd number of blocks that are not whole words (op_quantize_rows's
 * rule); 0: not one fits */
static uint64_t piece_rows(uint64_t bytes, const model_tensor *t)
{
    const quant_type *qt = quant_type_of(t->load_qtype);
    uint64_t per = bytes / (t->cols * dtype_size(t->dtype));
    if (qt->block_bytes % 4 && t->cols / qt->block % 2) per &= ~1ull;
    return per;
}

bool qdevice_takes(gpu_ctx *ctx, const model_tensor *t)
{
    const ops_profile *p = ops_profile_of(ctx);
    return p->quantize_on_device && t->load_qtype && t->load_search == QUANT_SEARCH_EXACT && /* the shader's */
           op_quantize_supported(t->load_qtype) &&
           (t->dtype == DTYPE_F32 || t->dtype == DTYPE_F16 || t->dtype == DTYPE_BF16) && t->rows < (1ull << 32) &&
           piece_rows(src_bytes(ctx), t) >= 1 && src_bytes(ctx) <= gpu_max_chunk_bytes(ctx);
}

vkllm_status qdevice_start(gpu_ctx *ctx, qdevice **out)
{
    *out = NULL;
    qdevice *q = calloc(1, sizeof *q);
    if (!q) return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    q->ctx = ctx;
    q->src_bytes = src_bytes(ctx);
    const char *e = getenv("VKLLM_QUANTIZE_PIECES");
    q->n_pieces = e && !strcmp(e, "1") ? 1 : QD_PIECES;
    vkllm_status s = VKLLM_OK;
    for (uint32_t i = 0; i < q->n_pieces && s == VKLLM_OK; i++) {
        s = gpu_tensor_create(ctx, q->src_bytes, 0, &q->piece[i].src);
        if (s == VKLLM_OK) s = gpu_tensor_create_mapped(ctx, 16, &q->piece[i].status);
    }
    if (s != VKLLM_OK) {
        qdevice_stop(q);
        return s;
    }
    *out = q;
    return VKLLM_OK;
}

/* Waits for piece p, if it was submitted, and frees its recording; then,
 * while s is VKLLM_OK, checks its rows and reports its blocks. Returns the
 * first error: s, the wait's, the bad row's or the report's. */
static vkllm_status qd_finish(qdevice *q, qd_piece *p, vkllm_status s,
                              vkllm_status (*report)(void *user, uint64_t bytes), void *user)
{
    if (!p->rec) return s;
    vkllm_status w = gpu_rec_wait(p->rec);
    gpu_rec_destroy(p->rec); /* (waits again if that wait failed) */
    p->rec = NULL;
    if (s != VKLLM_OK) return s;
    if (w != VKLLM_OK) return w;
    const uint32_t bad = *(const uint32_t *)gpu_tensor_map(p->status); /* the wait made the shader's write visible */
    if (bad != 0xffffffffu)
        return gpu_fail(q->ctx, VKLLM_ERR_FORMAT, "tensor '%s' row %u holds NaN or Inf; refusing to quantize a "
                        "broken model", p->t->name, bad);
    return report(user, p->block_bytes);
}

/* Piece by piece, QD_PIECES at a time: piece k waits for piece k - 2 (whose
 * src it takes; its rows are checked and reported then), goes up while
 * piece k - 1 runs, and is submitted without waiting. (gpu_upload's own
 * wait, a fence that covers all work queued before it, also waits for
 * piece k - 1: what overlaps the quantizing is the host's copy into the
 * staging ring, and the device's copy where it can run beside a dispatch.)
 * The pieces are checked in order, so the first bad row named is the
 * tensor's first. The last ones are waited for before returning, on every
 * path: the caller may write dst's padding, and a later tensor's error
 * names only it. */
vkllm_status qdevice_upload(qdevice *q, const model_tensor *t, gpu_tensor *dst,
                            vkllm_status (*report)(void *user, uint64_t bytes), void *user)
{
    const uint64_t per = piece_rows(q->src_bytes, t), elem = dtype_size(t->dtype);
    const uint64_t row_bytes = quant_bytes(quant_type_of(t->load_qtype), t->cols);
    if (!per)
        return gpu_fail(q->ctx, VKLLM_ERR_INVALID_ARG, "%s: a row of %llu bytes exceeds the quantizing pieces of %llu "
                        "(a bug in vkllm)", t->name, (unsigned long long)(t->cols * elem), (unsigned long long)q->src_bytes);
    vkllm_status s = VKLLM_OK;
    for (uint64_t r = 0; r < t->rows && s == VKLLM_OK; r += per) {
        const uint64_t n = t->rows - r < per ? t->rows - r : per;
        qd_piece *p = &q->piece[q->next];
        q->next = (q->next + 1) % q->n_pieces;
        s = qd_finish(q, p, s, report, user); /* its src and status free again */
        if (s == VKLLM_OK) s = gpu_upload(q->ctx, p->src, 0, (const uint8_t *)t->data + r * t->cols * elem, n * t->cols * elem);
        if (s != VKLLM_OK) break;
        *(uint32_t *)gpu_tensor_map(p->status) = 0xffffffffu;
        gpu_rec *rec = NULL;
        s = gpu_rec_begin(q->ctx, 0, &rec);
        if (s == VKLLM_OK) {
            /* the previous piece (maybe still running) writes other rows of
             * the same dst chunk binding: its writes before these */
            gpu_barrier(rec);
            op_quantize_rows(rec, t->load_qtype, (uint32_t)t->dtype, gpu_bind(p->src), r, dst, p->status, r, n, t->cols,
                             t->rows);
            s = gpu_rec_end(rec);
        }
        if (s == VKLLM_OK) s = gpu_rec_submit_async(rec);
        if (s != VKLLM_OK) {
            gpu_rec_destroy(rec);
            break;
        }
        *p = (qd_piece){ .src = p->src, .status = p->status, .rec = rec, .t = t, .block_bytes = n * row_bytes };
    }
    /* the pieces still running, oldest first (after an error: only waited for) */
    for (uint32_t i = 0; i < q->n_pieces; i++) s = qd_finish(q, &q->piece[(q->next + i) % q->n_pieces], s, report, user);
    return s;
}

void qdevice_stop(qdevice *q)
{
    if (!q) return;
    for (int i = 0; i < QD_PIECES; i++) {
        gpu_rec_destroy(q->piece[i].rec); /* (none is left running by qdevice_upload; it would be waited for) */
        gpu_tensor_destroy(q->ctx, q->piece[i].src);
        gpu_tensor_destroy(q->ctx, q->piece[i].status);
    }
    free(q);
}
