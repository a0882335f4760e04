/* Comparing logits in the forward-pass tests (test_llama, test_batch,
 * test_quant_load): one relative difference and one argmax for all. */
#ifndef VKLLM_TEST_LOGITS_DIFF_H
#define VKLLM_TEST_LOGITS_DIFF_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* max |a - b| / max |b| over n */
static inline double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return m > 0 ? d / m : d;
}

/* The first index of the largest of v[0..n) */
static inline int32_t argmax_of(const float *v, uint32_t n)
{
    int32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = (int32_t)i;
    return best;
}

#endif
