/* Quantize on load (model.h's model_plan_quant, model_quant_rows): the plan
 * `vkllm quantize` would make for a model, kept in its table instead of a
 * file, and the rows quantized as the loader asks for them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"
#include "model/quant.h"
#include "util/bf16.h"
#include "util/errf.h"

vkllm_status model_plan_quant(model *m, const char *type, char *err, size_t err_len)
{
    const quant_scheme *qs = type ? quant_scheme_find(type) : NULL;
    if (!qs) {
        unsigned n;
        const quant_scheme *all = quant_schemes(&n);
        char list[512];
        size_t at = 0;
        for (unsigned i = 0; i < n && at < sizeof list; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", all[i].name);
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "unknown quantization type '%s' for quantize on load (valid: %s)",
                    type ? type : "(null)", list);
    }
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].dtype == DTYPE_QUANT)
            return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "%s is already quantized (tensor '%s' is %s); quantize on load (%s) needs an F16/BF16/F32 "
                        "model: load this one without a quantization type, or requantize it with `vkllm quantize "
                        "--allow-requantize`", m->path, m->tensors[i].name, quant_type_of(m->tensors[i].qtype)->name,
                        qs->name);
    for (size_t i = 0; i < m->n_tensors; i++) {
        model_tensor *t = &m->tensors[i];
        uint32_t qt = 0;
        t->load_qtype = 0, t->load_bytes = 0, t->load_search = QUANT_SEARCH_EXACT;
        if (t->n_dims != 2 || !quant_scheme_tensor(qs, t->name, t->cols, m->tied_embeddings, m->hp.n_layer,
                                                   m->hp.n_head, m->hp.n_head_kv, &qt) || !qt)
            continue;
        t->load_qtype = qt;
        t->load_bytes = t->rows * quant_bytes(quant_type_of(qt), t->cols);
    }
    return VKLLM_OK;
}

void model_plan_search(model *m, int search)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].load_qtype) m->tensors[i].load_search = (uint8_t)search;
}

int model_quant_rows(const model_tensor *t, uint64_t r0, uint64_t r1, float *scratch, void *dst, uint64_t *bad_row)
{
    const quant_type *q = quant_type_of(t->load_qtype);
    const uint64_t cols = t->cols, row_out = quant_bytes(q, cols), elem = dtype_size(t->dtype);
    for (uint64_t r = r0; r < r1; r++) {
        const uint8_t *src = (const uint8_t *)t->data + r * cols * elem;
        /* as quantize_model.c's decode_row: exact widening */
        int finite = 1;
        if (t->dtype == DTYPE_F16) {
            finite = quant_f16_to_f32(src, scratch, cols);
        } else if (t->dtype == DTYPE_F32) {
            memcpy(scratch, src, cols * 4);
        } else {
            for (uint64_t c = 0; c < cols; c++) {
                uint16_t h;
                memcpy(&h, src + 2 * c, 2);
                scratch[c] = bf16_to_float(h);
            }
        }
        if (!finite || (t->dtype != DTYPE_F16 && !quant_all_finite(scratch, cols))) {
            *bad_row = r;
            return 0;
        }
        quant_quantize_as(q, (quant_search)t->load_search, scratch, (uint8_t *)dst + (r - r0) * row_out,
                          cols / q->block);
    }
    return 1;
}
