/* The token sampler: greedy is the argmax (first index on ties); top-k=1 is
 * greedy; a seed fixes the sequence and different seeds differ; draws follow
 * softmax(logits / T) (chi-square, fixed seeds so never flaky); top-k, top-p
 * and min-p keep exactly the tokens a plain full-sort reference keeps (the
 * others are never drawn) with the right probabilities; repetition penalty
 * (llama.cpp semantics, window, once per distinct token); NaN / inf; the
 * logits are left untouched; bad parameters refused. Prints timings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/sampler.h"
#include "util/rng.h"

static int failures;

#include "expect.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int32_t ref_argmax(const float *l, uint32_t n)
{
    int32_t best = -1;
    for (uint32_t i = 0; i < n; i++)
        if (!isnan(l[i]) && l[i] > -INFINITY && (best < 0 || l[i] > l[best])) best = (int32_t)i;
    return best;
}

static sampler_params params(float temp, int32_t top_k, float top_p, float min_p, uint64_t seed)
{
    sampler_params p = sampler_params_greedy();
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = seed;
    return p;
}

/* ------------------------------------------------------------ reference */

static const float *g_sort_logits;
static int cmp_ref(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    float la = g_sort_logits[a], lb = g_sort_logits[b];
    if (la != lb) return la > lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* The kept set the obvious way: sort everything, cut. prob[t] = the tempered,
 * renormalised probability of token t (0 for excluded). Returns the kept count. */
static size_t ref_kept(const float *l, uint32_t n, const sampler_params *p, double *prob)
{
    int32_t *idx = malloc(sizeof *idx * n);
    size_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!isnan(l[i]) && l[i] > -INFINITY) idx[m++] = (int32_t)i;
    g_sort_logits = l;
    qsort(idx, m, sizeof *idx, cmp_ref);
    if (p->top_k > 0 && (size_t)p->top_k < m) m = (size_t)p->top_k;
    double lmax = l[idx[0]], z = 0;
    for (size_t i = 0; i < m; i++) z += exp(l[idx[i]] - lmax);
    if (p->top_p < 1.0f) {
        double cum = 0;
        for (size_t i = 0; i < m; i++) {
            cum += exp(l[idx[i]] - lmax) / z;
            if (cum >= p->top_p) {
                m = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        size_t keep = 1;
        while (keep < m && exp(l[idx[keep]] - lmax) >= p->min_p) keep++;
        m = keep;
    }
    memset(prob, 0, sizeof *prob * n);
    double zt = 0;
    for (size_t i = 0; i < m; i++) zt += exp((l[idx[i]] - lmax) / p->temperature);
    for (size_t i = 0; i < m; i++) prob[idx[i]] = exp((l[idx[i]] - lmax) / p->temperature) / zt;
    free(idx);
    return m;
}

/* Draws `draws` tokens; checks that no token with prob 0 is drawn and that
 * the counts fit prob (chi-square below mean + 6 sd + 10). */
static void check_distribution(const char *what, const float *l, uint32_t n, const sampler_params *p, int draws)
{
    double *prob = malloc(sizeof *prob * n);
    size_t kept = ref_kept(l, n, p, prob);
    int *count = calloc(n, sizeof *count);
    sampler *s = sampler_create(p, n);
    CHECK(s, "%s: create", what);
    if (!s) goto out;
    int bad = 0;
    for (int d = 0; d < draws; d++) {
        int32_t t = sampler_sample(s, l);
        if (t < 0 || (uint32_t)t >= n || prob[t] == 0.0) {
            if (bad++ < 3) printf("  %s: drew excluded token %d (logit %g)\n", what, t, t >= 0 ? l[t] : 0.0);
        } else {
            count[t]++;
        }
    }
    CHECK(bad == 0, "%s: %d draws outside the kept set", what, bad);
    double chi2 = 0;
    int df = -1;
    size_t seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (prob[i] == 0.0) continue;
        double e = prob[i] * draws;
        chi2 += (count[i] - e) * (count[i] - e) / e;
        df++;
        seen += count[i] > 0;
    }
    double bound = df + 6 * sqrt(2.0 * (df > 0 ? df : 1)) + 10;
    printf("  %-34s kept %4zu of %5u, all kept drawn: %s, chi2 %7.1f (df %d, bound %.0f)\n", what, kept, n,
           seen == kept ? "yes" : "no", chi2, df, bound);
    CHECK(chi2 < bound, "%s: chi2 %g >= %g", what, chi2, bound);
out:
    sampler_free(s);
    free(count);
    free(prob);
}

/* ------------------------------------------------------------ tests */

static void test_greedy(void)
{
    rng r = { 1 };
    enum { N = 1000 };
    float l[N];
    sampler_params pg = sampler_params_greedy();
    sampler_params pk = params(0.8f, 1, 0.95f, 0.05f, 7); /* top-k 1 */
    sampler_params pt = sampler_params_default();         /* temperature 0 with everything else on */
    pt.temperature = 0.0f;
    sampler *g = sampler_create(&pg, N), *k = sampler_create(&pk, N), *t = sampler_create(&pt, N);
    CHECK(g && k && t, "create");
    if (!g || !k || !t) goto out;
    for (int trial = 0; trial < 300; trial++) {
        for (int i = 0; i < N; i++) l[i] = rng_uniform(&r, -8, 8);
        if (trial % 3 == 0) { /* a tie for the max: the first one wins */
            int a = (int)rng_below(&r, N), b = (int)rng_below(&r, N);
            l[a] = l[b] = 9.0f;
        }
        int32_t want = ref_argmax(l, N);
        int32_t got_g = sampler_sample(g, l), got_k = sampler_sample(k, l), got_t = sampler_sample(t, l);
        CHECK(got_g == want, "trial %d: greedy %d, argmax %d", trial, got_g, want);
        CHECK(got_k == want, "trial %d: top-k=1 %d, argmax %d", trial, got_k, want);
        CHECK(got_t == want, "trial %d: temp 0 %d, argmax %d", trial, got_t, want);
    }
out:
    sampler_free(g);
    sampler_free(k);
    sampler_free(t);
}

/* 300 steps over changing logits, accepting each token */
static void run_seq(uint64_t seed, int32_t *out, int steps, int reset_midway)
{
    enum { N = 5000 };
    static float l[N];
    sampler_params p = sampler_params_default();
    p.seed = seed;
    p.temperature = 1.2f;
    sampler *s = sampler_create(&p, N);
    rng r = { 99 };
    for (int step = 0; step < steps; step++) {
        if (reset_midway && step == steps / 2) {
            sampler_reset(s);
            r.s = 99;
        }
        for (int i = 0; i < N; i++) l[i] = rng_uniform(&r, -4, 4);
        out[step] = sampler_sample(s, l);
        sampler_accept(s, out[step]);
    }
    sampler_free(s);
}

static void test_determinism(void)
{
    enum { STEPS = 300 };
    int32_t a[STEPS], b[STEPS], c[STEPS], d[STEPS];
    run_seq(123, a, STEPS, 0);
    run_seq(123, b, STEPS, 0);
    run_seq(124, c, STEPS, 0);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, different tokens");
    int differ = 0;
    for (int i = 0; i < STEPS; i++) differ += a[i] != c[i];
    CHECK(differ > STEPS / 2, "seeds 123 and 124 differ at only %d of %d steps", differ, STEPS);
    /* reset restarts the generator and the window: the second half repeats the first */
    run_seq(123, d, STEPS, 1);
    CHECK(memcmp(d, a, sizeof a / 2) == 0 && memcmp(d + STEPS / 2, a, sizeof a / 2) == 0, "reset does not restart");
}

static void test_distributions(void)
{
    /* plain temperature on a small vocabulary: exactly softmax(l / T) */
    const float small[] = { 1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -3.0f };
    sampler_params p = params(0.7f, 0, 1.0f, 0.0f, 11);
    check_distribution("temperature 0.7, vocab 6", small, 6, &p, 200000);
    p = params(1.6f, 0, 1.0f, 0.0f, 12);
    check_distribution("temperature 1.6, vocab 6", small, 6, &p, 200000);
    p = params(1.0f, 0, 1.0f, 0.0f, 13);
    check_distribution("temperature 1.0, vocab 6", small, 6, &p, 200000);

    /* truncation on 64 random logits: kept sets compared with the reference */
    enum { M = 64 };
    float mid[M];
    rng r = { 5 };
    for (int i = 0; i < M; i++) mid[i] = rng_uniform(&r, -3, 3);
    mid[10] = mid[11]; /* a tie, which top-k must break towards the lower index */
    struct { const char *name; sampler_params p; } cases[] = {
        { "top-k 5, T 2", params(2.0f, 5, 1.0f, 0.0f, 21) },
        { "top-k 11, T 1", params(1.0f, 11, 1.0f, 0.0f, 22) },
        { "top-p 0.8, T 2", params(2.0f, 0, 0.8f, 0.0f, 23) },
        { "top-p 0.5, T 1", params(1.0f, 0, 0.5f, 0.0f, 24) },
        { "min-p 0.2, T 2", params(2.0f, 0, 1.0f, 0.2f, 25) },
        { "top-k 20 + top-p 0.9 + min-p 0.05", params(1.5f, 20, 0.9f, 0.05f, 26) },
        { "top-k 30 + min-p 0.1, T 3", params(3.0f, 30, 1.0f, 0.1f, 27) },
    };
    double prob[M];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t kept = ref_kept(mid, M, &cases[i].p, prob);
        CHECK(kept > 1 && kept < M, "%s: test needs a real cut, kept %zu", cases[i].name, kept);
        check_distribution(cases[i].name, mid, M, &cases[i].p, 50000);
    }

    /* a 32000 vocabulary with a 60-token head: the top-k heap path and the
     * no-top-k path (bounded candidate collection) against the full sort */
    enum { V = 32000 };
    float *big = malloc(sizeof *big * V);
    for (int i = 0; i < V; i++) big[i] = rng_uniform(&r, -16, -6);
    for (int i = 0; i < 60; i++) big[rng_below(&r, V)] = rng_uniform(&r, 0, 4);
    struct { const char *name; sampler_params p; } bcases[] = {
        { "32000: defaults, T 2", sampler_params_default() },
        { "32000: top-p 0.9, T 2", params(2.0f, 0, 0.9f, 0.0f, 31) },
        { "32000: min-p 0.1, T 2", params(2.0f, 0, 1.0f, 0.1f, 32) },
        { "32000: top-k 25, T 2", params(2.0f, 25, 1.0f, 0.0f, 33) },
    };
    bcases[0].p.temperature = 2.0f;
    bcases[0].p.repeat_penalty = 1.0f;
    for (size_t i = 0; i < sizeof bcases / sizeof bcases[0]; i++)
        check_distribution(bcases[i].name, big, V, &bcases[i].p, 10000);
    free(big);
}

static void test_penalty(void)
{
    sampler_params p = sampler_params_greedy();
    p.repeat_penalty = 1.1f;
    p.repeat_last_n = 2;
    float pos[] = { 2.0f, 1.9f, -1.0f, -1.05f, 0.0f, 0.0f, 0.0f, 0.0f };
    float neg[] = { -1.0f, -1.05f, -2.0f, -3.0f, -4.0f, -4.0f, -4.0f, -4.0f };
    float two[] = { 2.0f, 1.7f, 0, 0, 0, 0, 0, 0 };
    sampler *s = sampler_create(&p, 8);
    CHECK(s, "create");
    if (!s) return;
    CHECK(sampler_sample(s, pos) == 0, "no history");
    sampler_accept(s, 0);
    CHECK(sampler_sample(s, pos) == 1, "2.0/1.1 < 1.9");   /* positive: divided */
    CHECK(sampler_sample(s, neg) == 1, "-1.0*1.1 < -1.05"); /* negative: multiplied */
    sampler_accept(s, 0);                                   /* twice in the window: penalised once */
    CHECK(sampler_sample(s, two) == 0, "2.0/1.1 > 1.7 (once per distinct token)");
    sampler_accept(s, 5);
    sampler_accept(s, 6); /* token 0 leaves the 2-token window */
    CHECK(sampler_sample(s, pos) == 0, "0 out of the window");
    sampler_accept(s, 0);
    sampler_reset(s);
    CHECK(sampler_sample(s, pos) == 0, "reset empties the window");
    sampler_free(s);

    /* the logits the caller passes are never modified */
    p = sampler_params_default();
    p.repeat_penalty = 1.5f;
    s = sampler_create(&p, 8);
    float copy[8];
    memcpy(copy, pos, sizeof pos);
    for (int i = 0; i < 8; i++) sampler_accept(s, i);
    for (int i = 0; i < 20; i++) sampler_sample(s, pos);
    CHECK(memcmp(copy, pos, sizeof pos) == 0, "logits modified");
    sampler_free(s);
}

static void test_nonfinite(void)
{
    const float nan = NAN, inf = INFINITY;
    sampler_params pg = sampler_params_greedy();
    sampler_params pd = sampler_params_default();
    pd.temperature = 5.0f;
    sampler *g = sampler_create(&pg, 6), *d = sampler_create(&pd, 6);
    CHECK(g && d, "create");
    if (!g || !d) goto out;
    float a[] = { nan, 1.0f, nan, 3.0f, nan, 2.9f };
    CHECK(sampler_sample(g, a) == 3, "greedy skips NaN");
    for (int i = 0; i < 2000; i++) {
        int32_t t = sampler_sample(d, a);
        if (t != 1 && t != 3 && t != 5) {
            CHECK(0, "sampled %d with NaN logits around", t);
            break;
        }
    }
    float allnan[] = { nan, nan, nan, nan, nan, nan };
    float allninf[] = { -inf, -inf, -inf, -inf, -inf, -inf };
    float mixed[] = { -inf, nan, -inf, nan, -inf, nan };
    CHECK(sampler_sample(g, allnan) == -1 && sampler_sample(d, allnan) == -1, "all NaN -> -1");
    CHECK(sampler_sample(g, allninf) == -1 && sampler_sample(d, allninf) == -1, "all -inf -> -1");
    CHECK(sampler_sample(g, mixed) == -1 && sampler_sample(d, mixed) == -1, "NaN and -inf -> -1");
    float one[] = { -inf, nan, -inf, -7.0f, -inf, nan };
    CHECK(sampler_sample(g, one) == 3 && sampler_sample(d, one) == 3, "one finite logit");
    float pinf[] = { 1.0f, inf, nan, inf, 50.0f, -inf };
    CHECK(sampler_sample(g, pinf) == 1, "greedy: first +inf");
    int c1 = 0, c3 = 0;
    for (int i = 0; i < 2000; i++) {
        int32_t t = sampler_sample(d, pinf);
        c1 += t == 1;
        c3 += t == 3;
    }
    CHECK(c1 + c3 == 2000 && c1 > 800 && c3 > 800, "+inf tokens share the draws: %d, %d", c1, c3);
out:
    sampler_free(g);
    sampler_free(d);
}

static void test_params(void)
{
    sampler_params d = sampler_params_default();
    CHECK(d.temperature == 0.8f && d.top_k == 40 && d.top_p == 0.95f && d.min_p == 0.05f && d.repeat_penalty == 1.1f &&
              d.repeat_last_n == 64 && d.seed == SAMPLER_DEFAULT_SEED,
          "defaults");
    sampler_params bad[8];
    for (int i = 0; i < 8; i++) bad[i] = d;
    bad[0].temperature = NAN;
    bad[1].top_p = 0.0f;
    bad[2].top_p = 1.5f;
    bad[3].min_p = -0.1f;
    bad[4].min_p = 2.0f;
    bad[5].repeat_penalty = 0.0f;
    bad[6].repeat_last_n = -1;
    bad[7].repeat_last_n = SAMPLER_MAX_REPEAT_LAST_N + 1;
    for (int i = 0; i < 8; i++) {
        sampler *s = sampler_create(&bad[i], 10);
        CHECK(!s, "bad params %d accepted", i);
        sampler_free(s);
    }
    CHECK(!sampler_create(&d, 0), "n_vocab 0");
    CHECK(!sampler_create(NULL, 10), "NULL params");
    sampler *s = sampler_create(&d, 10);
    CHECK(s && sampler_accept(s, 9) && !sampler_accept(s, 10) && !sampler_accept(s, -1), "accept range");
    CHECK(sampler_sample(s, NULL) == -1, "NULL logits");
    sampler_free(s);
    sampler_free(NULL);
}

static void time_samplers(void)
{
    enum { V = 32000, REPS = 1000 };
    float *l = malloc(sizeof *l * V);
    rng r = { 77 };
    struct { const char *name; sampler_params p; } cases[] = {
        { "greedy", sampler_params_greedy() },
        { "defaults (top-k 40, top-p, min-p, penalty)", sampler_params_default() },
        { "top-k off, top-p 0.95, min-p 0.05", params(0.8f, 0, 0.95f, 0.05f, 1) },
        { "top-k off, top-p 0.95", params(0.8f, 0, 0.95f, 0.0f, 1) },
        { "temperature only", params(0.8f, 0, 1.0f, 0.0f, 1) },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sampler *s = sampler_create(&cases[c].p, V);
        if (!s) continue;
        double t = 0;
        for (int rep = 0; rep < REPS; rep++) {
            /* model-like logits: a long tail and a spread head */
            for (int i = 0; i < V; i++) l[i] = rng_uniform(&r, -10, 0);
            for (int i = 0; i < 200; i++) l[rng_below(&r, V)] = rng_uniform(&r, 0, 12);
            double t0 = now_s();
            int32_t tok = sampler_sample(s, l);
            t += now_s() - t0;
            sampler_accept(s, tok);
        }
        printf("  timing, vocab %d, %-44s %7.1f us/sample\n", V, cases[c].name, t / REPS * 1e6);
        sampler_free(s);
    }
    free(l);
}

int main(void)
{
    test_params();
    test_greedy();
    test_determinism();
    test_penalty();
    test_nonfinite();
    test_distributions();
    time_samplers();
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures != 0;
}
