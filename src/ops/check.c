#include "check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/half.h"

void check_fill_f32(rng *r, float *x, uint64_t n, float lo, float hi)
{
    for (uint64_t i = 0; i < n; i++) x[i] = rng_uniform(r, lo, hi);
}

void check_fill_f16(rng *r, uint16_t *x, uint64_t n, float lo, float hi)
{
    for (uint64_t i = 0; i < n; i++) x[i] = float_to_half(rng_uniform(r, lo, hi));
}

vkllm_status check_tensor_from(gpu_ctx *ctx, const void *src, uint64_t bytes, uint64_t granule, gpu_tensor **t)
{
    vkllm_status s = gpu_tensor_create(ctx, bytes, granule, t);
    if (s == VKLLM_OK && src) s = gpu_upload(ctx, *t, 0, src, bytes);
    if (s != VKLLM_OK) {
        gpu_tensor_destroy(ctx, *t);
        *t = NULL;
    }
    return s;
}

void check_begin(vkllm_check_result *out, const char *kernel, const char *shape_fmt, ...)
{
    memset(out, 0, sizeof *out);
    snprintf(out->kernel, sizeof out->kernel, "%s", kernel);
    va_list ap;
    va_start(ap, shape_fmt);
    vsnprintf(out->shape, sizeof out->shape, shape_fmt, ap);
    va_end(ap);
}

void check_compare(const float *got, const float *want, const double *scale, uint64_t n, double atol,
                   double rtol, const char *what, vkllm_check_result *out)
{
    double max_err = 0, ratio = 0;
    uint64_t n_bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        double s = scale ? scale[i] : fabs((double)want[i]);
        double bound = atol + rtol * s;
        double err = fabs((double)got[i] - (double)want[i]);
        if (isnan(got[i]) || isinf(got[i])) err = INFINITY;
        if (err > max_err) max_err = err;
        if (err / bound > ratio) ratio = err / bound;
        if (!(err <= bound)) {
            if (n_bad++ == 0)
                snprintf(out->detail, sizeof out->detail, "%s[%llu] = %.7g, want %.7g (allowed %.3g)", what,
                         (unsigned long long)i, got[i], want[i], bound);
        }
    }
    if (n_bad > 1) {
        size_t len = strlen(out->detail);
        snprintf(out->detail + len, sizeof out->detail - len, "; %llu of %llu wrong", (unsigned long long)n_bad,
                 (unsigned long long)n);
    }
    out->max_err = max_err;
    out->ratio = ratio;
    out->passed = n_bad == 0;
}

/* ------------------------------------------------------------ the driver */

/* Timed dispatches a check's recording holds at most (weights in many chunks). */
#define CHECK_MAX_TIMED 1024

vkllm_status check_prepare(check_driver *d, gpu_ctx *ctx, check_buf *b, uint32_t n, check_record_fn record,
                           const void *arg)
{
    *d = (check_driver){ .ctx = ctx, .b = b, .n = n };
    vkllm_status s = gpu_rec_begin(ctx, CHECK_MAX_TIMED, &d->rec);
    if (s != VKLLM_OK) return s;
    for (uint32_t i = 0; i < n; i++) gpu_rec_note(d->rec, gpu_tensor_create(ctx, b[i].bytes, b[i].granule, &b[i].t));
    if (gpu_rec_status(d->rec) == VKLLM_OK) record(d->rec, b, arg);
    return gpu_rec_end(d->rec);
}

static vkllm_status upload(check_driver *d, bool in_out_only)
{
    vkllm_status s = VKLLM_OK;
    for (uint32_t i = 0; i < d->n && s == VKLLM_OK; i++)
        if (d->b[i].host && (!in_out_only || d->b[i].in_out))
            s = gpu_upload(d->ctx, d->b[i].t, 0, d->b[i].host, d->b[i].bytes);
    return s;
}

vkllm_status check_execute(check_driver *d, vkllm_check_result *out)
{
    vkllm_status s = upload(d, false);
    if (s == VKLLM_OK && d->runs == 0) { /* warm-up, then the in-out buffers as they were */
        s = gpu_rec_submit(d->rec);
        if (s == VKLLM_OK) s = upload(d, true);
    }
    for (uint32_t i = 0; i < d->n && s == VKLLM_OK; i++)
        if (d->b[i].got && !d->b[i].in_out)
            s = gpu_fill(d->ctx, d->b[i].t, d->b[i].poison ? d->b[i].poison : CHECK_POISON);
    if (s == VKLLM_OK) s = gpu_rec_submit(d->rec);
    if (s == VKLLM_OK && d->runs++ == 0) out->gpu_us = gpu_rec_total_us(d->rec);
    for (uint32_t i = 0; i < d->n && s == VKLLM_OK; i++)
        if (d->b[i].got) s = gpu_download(d->ctx, d->b[i].t, 0, d->b[i].got, d->b[i].bytes);
    return s;
}

void check_release(check_driver *d)
{
    gpu_rec_destroy(d->rec);
    for (uint32_t i = 0; i < d->n; i++) {
        gpu_tensor_destroy(d->ctx, d->b[i].t);
        d->b[i].t = NULL;
    }
    d->rec = NULL;
}

vkllm_status check_drive(gpu_ctx *ctx, check_buf *b, uint32_t n, check_record_fn record, const void *arg,
                         vkllm_check_result *out)
{
    check_driver d;
    vkllm_status s = check_prepare(&d, ctx, b, n, record, arg);
    if (s == VKLLM_OK) s = check_execute(&d, out);
    check_release(&d);
    return s;
}

void *check_alloc(check_host *h, size_t bytes)
{
    void *p = h->n < CHECK_HOST_MAX ? malloc(bytes ? bytes : 1) : NULL;
    if (!p) {
        h->oom = true;
        return NULL;
    }
    h->p[h->n++] = p;
    return p;
}

vkllm_status check_host_status(gpu_ctx *ctx, const check_host *h, const char *check)
{
    return h->oom ? gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "%s: out of host memory for its inputs", check) : VKLLM_OK;
}

void check_host_free(check_host *h)
{
    for (uint32_t i = 0; i < h->n; i++) free(h->p[i]);
    h->n = 0;
}

static uint32_t load_bits(const void *p, uint64_t i, uint32_t elt_bytes)
{
    if (elt_bytes == 2) {
        uint16_t h;
        memcpy(&h, (const uint8_t *)p + 2 * i, 2);
        return h;
    }
    uint32_t x;
    memcpy(&x, (const uint8_t *)p + 4 * i, 4);
    return x;
}

static double bits_value(uint32_t x, uint32_t elt_bytes)
{
    if (elt_bytes == 2) return half_to_float((uint16_t)x);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

void compare_bits(const void *got, const void *want, uint64_t n, uint32_t elt_bytes, const char *what,
                  vkllm_check_result *out)
{
    const int hex = elt_bytes == 2 ? 4 : 8;
    uint64_t n_bad = 0;
    double max_err = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t g = load_bits(got, i, elt_bytes), w = load_bits(want, i, elt_bytes);
        if (g == w) continue;
        double gv = bits_value(g, elt_bytes), wv = bits_value(w, elt_bytes);
        double err = isfinite(gv) && isfinite(wv) ? fabs(gv - wv) : INFINITY;
        if (err > max_err) max_err = err; /* stays 0 for +0 vs -0, which still fails */
        if (n_bad++ == 0)
            snprintf(out->detail, sizeof out->detail, "%s[%llu] = 0x%0*x (%.7g), want 0x%0*x (%.7g)", what,
                     (unsigned long long)i, hex, g, gv, hex, w, wv);
    }
    if (n_bad > 1) {
        size_t len = strlen(out->detail);
        snprintf(out->detail + len, sizeof out->detail - len, "; %llu of %llu wrong", (unsigned long long)n_bad,
                 (unsigned long long)n);
    }
    out->max_err = max_err;
    out->ratio = n_bad ? INFINITY : 0;
    out->passed = n_bad == 0;
}
