/* The token sampler; see sampler.h for the pipeline and its semantics.
 *
 * Cost per sample over n_vocab logits: a copy only when the penalty applies,
 * one pass to find the max (greedy stops here), then either
 *   - top-k on: one pass keeping a k-entry min-heap, then a sort of k;
 *   - top-k off: with top-p, one pass of expf() for the softmax normaliser;
 *     one pass collecting the tokens that can survive top-p/min-p (a bound
 *     that needs no sort, below), then a sort of those only (no sort and all
 *     tokens kept when neither is on).
 * The whole vocabulary is never sorted. The draw computes each kept token's
 * weight once. */
#include "text/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct sampler {
    sampler_params p;
    uint32_t n_vocab;
    uint64_t rng[4];   /* xoshiro256** state */
    float *work;       /* [n_vocab] logits after the penalty (scratch copy) */
    double *weight;    /* [n_vocab] unnormalised probabilities of the candidates */
    cand *cand;        /* [n_vocab] candidate list / top-k heap */
    int32_t *window;   /* [repeat_last_n] ring of accepted tokens */
    uint32_t win_len;  /* tokens in the window (<= repeat_last_n) */
    uint32_t win_next; /* ring slot the next accepted token goes to */
    uint32_t *stamp;   /* [n_vocab] penalty dedupe: stamp[t] == stamp_gen once penalised */
    uint32_t stamp_gen;
};

/* ------------------------------------------------------------ PRNG */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** (Blackman & Vigna) */
static uint64_t rng_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* uniform in [0, 1), 53 bits */
static double rng_double(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static void rng_seed(uint64_t s[4], uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&x);
}

/* ------------------------------------------------------------ params */

sampler_params sampler_params_default(void)
{
    return (sampler_params){
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.1f,
        .repeat_last_n = 64,
        .seed = SAMPLER_DEFAULT_SEED,
    };
}

sampler_params sampler_params_greedy(void)
{
    return (sampler_params){
        .temperature = 0.0f,
        .top_k = 0,
        .top_p = 1.0f,
        .min_p = 0.0f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 0,
        .seed = SAMPLER_DEFAULT_SEED,
    };
}

static bool params_ok(const sampler_params *p)
{
    return !isnan(p->temperature) && p->top_p > 0.0f && p->top_p <= 1.0f && p->min_p >= 0.0f && p->min_p <= 1.0f &&
           p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty) && p->repeat_last_n >= 0 &&
           p->repeat_last_n <= SAMPLER_MAX_REPEAT_LAST_N;
}

/* ------------------------------------------------------------ lifetime */

sampler *sampler_create(const sampler_params *params, uint32_t n_vocab)
{
    if (!params || n_vocab == 0 || n_vocab > INT32_MAX || !params_ok(params)) return NULL;
    sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *params;
    s->n_vocab = n_vocab;
    s->work = malloc(sizeof *s->work * n_vocab);
    s->cand = malloc(sizeof *s->cand * n_vocab);
    s->weight = malloc(sizeof *s->weight * n_vocab);
    s->stamp = calloc(n_vocab, sizeof *s->stamp);
    s->window = malloc(sizeof *s->window * (size_t)(params->repeat_last_n ? params->repeat_last_n : 1));
    if (!s->work || !s->weight || !s->cand || !s->stamp || !s->window) goto fail;
    sampler_reset(s);
    return s;
fail:
    sampler_free(s);
    return NULL;
}

void sampler_free(sampler *s)
{
    if (!s) return;
    free(s->work);
    free(s->weight);
    free(s->cand);
    free(s->stamp);
    free(s->window);
    free(s);
}

void sampler_reset(sampler *s)
{
    if (!s) return;
    s->win_len = 0;
    s->win_next = 0;
    rng_seed(s->rng, s->p.seed);
}

bool sampler_accept(sampler *s, int32_t token)
{
    if (!s || token < 0 || (uint32_t)token >= s->n_vocab) return false;
    uint32_t cap = (uint32_t)s->p.repeat_last_n;
    if (cap == 0) return true;
    s->window[s->win_next] = token;
    s->win_next = (s->win_next + 1) % cap;
    if (s->win_len < cap) s->win_len++;
    return true;
}

/* ------------------------------------------------------------ sampling */

/* a ranks below b: smaller logit, or equal logit and larger id */
static bool worse(cand a, cand b) { return a.logit < b.logit || (a.logit == b.logit && a.id > b.id); }

/* descending logit, ascending id: a total order, so the result is the same
 * whatever qsort's algorithm */
static int cmp_desc(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    return worse(*a, *b) ? 1 : worse(*b, *a) ? -1 : 0;
}

static void heap_sift_down(cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(h[l], h[m])) m = l;
        if (r < n && worse(h[r], h[m])) m = r;
        if (m == i) return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_sift_up(cand *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!worse(h[i], h[parent])) return;
        cand t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

/* The repetition penalty on s->work (a copy of the caller's logits), once
 * per distinct token in the window. */
static void apply_penalty(sampler *s)
{
    float pen = s->p.repeat_penalty;
    if (++s->stamp_gen == 0) { /* wrapped: forget old stamps */
        memset(s->stamp, 0, sizeof *s->stamp * s->n_vocab);
        s->stamp_gen = 1;
    }
    for (uint32_t i = 0; i < s->win_len; i++) {
        int32_t t = s->window[i];
        if (s->stamp[t] == s->stamp_gen) continue;
        s->stamp[t] = s->stamp_gen;
        float x = s->work[t];
        s->work[t] = x <= 0.0f ? x * pen : x / pen; /* NaN stays NaN */
    }
}

/* Draws index i of c[0..n) with probability proportional to
 * exp((c[i].logit - lmax) / temp). */
static int32_t draw(sampler *s, const cand *c, size_t n, float lmax, float temp)
{
    double *wt = s->weight, total = 0.0;
    for (size_t i = 0; i < n; i++) total += wt[i] = expf((c[i].logit - lmax) / temp);
    double u = rng_double(s->rng) * total, acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        acc += wt[i];
        if (u < acc) return c[i].id;
    }
    return c[n - 1].id; /* rounding: u landed on the total */
}

int32_t sampler_sample(sampler *s, const float *logits)
{
    if (!s || !logits) return -1;
    const uint32_t n_vocab = s->n_vocab;
    const float *w = logits;
    if (s->p.repeat_penalty != 1.0f && s->win_len > 0) {
        memcpy(s->work, logits, sizeof *s->work * n_vocab);
        apply_penalty(s);
        w = s->work;
    }

    /* max over the numbers; NaN compares false and is skipped */
    float lmax = -INFINITY;
    int32_t imax = -1;
    for (uint32_t i = 0; i < n_vocab; i++)
        if (w[i] > lmax) lmax = w[i], imax = (int32_t)i;
    if (imax < 0) return -1; /* all NaN or -inf */

    bool greedy = !(s->p.temperature > 0.0f);
    if (lmax == INFINITY) { /* the +inf tokens share all the probability */
        if (greedy) return imax;
        size_t n = 0;
        for (uint32_t i = 0; i < n_vocab; i++)
            if (w[i] == INFINITY) s->cand[n++] = (cand){ 0.0f, (int32_t)i };
        return draw(s, s->cand, n, 0.0f, 1.0f);
    }
    if (greedy) return imax; /* first index of the max */

    const double top_p = s->p.top_p, min_p = s->p.min_p;
    const float temp = s->p.temperature;
    cand *c = s->cand;
    size_t n = 0;
    double z = 0.0; /* softmax normaliser at temperature 1 over the candidates before top-p */
    bool sorted = false;

    if (s->p.top_k > 0 && (uint32_t)s->p.top_k < n_vocab) {
        /* top-k: a min-heap of the k best seen so far, worst at the root */
        size_t k = (size_t)s->p.top_k;
        uint32_t i = 0;
        for (; i < n_vocab && n < k; i++)
            if (w[i] > -INFINITY) { /* not NaN, not -inf */
                c[n] = (cand){ w[i], (int32_t)i };
                heap_sift_up(c, n++);
            }
        /* heap full: a later token (larger id) enters only with a strictly
         * larger logit than the root's; NaN compares false */
        for (float floor_logit = n ? c[0].logit : INFINITY; i < n_vocab; i++)
            if (w[i] > floor_logit) {
                c[0] = (cand){ w[i], (int32_t)i };
                heap_sift_down(c, n, 0);
                floor_logit = c[0].logit;
            }
        qsort(c, n, sizeof *c, cmp_desc);
        sorted = true;
        for (size_t i = 0; i < n; i++) z += exp((double)c[i].logit - lmax);
    } else {
        size_t n_finite = 0;
        if (top_p < 1.0) /* z only matters to top-p; terms below e^-40 change nothing */
            for (uint32_t i = 0; i < n_vocab; i++)
                if (w[i] > -INFINITY) {
                    n_finite++;
                    if (w[i] - lmax > -40.0f) z += expf(w[i] - lmax);
                }
        /* Tokens that can survive, as a logit bound, so only they are sorted:
         *  - min-p keeps p >= min_p * p_max, i.e. logit >= lmax + log(min_p);
         *  - top-p keeps a head of the sorted list, and that head lies inside
         *    {p >= (1 - top_p) / n_finite}: everything below that bound sums
         *    to less than 1 - top_p, so the tokens above it already reach top_p.
         * The bound is loosened by 1e-3 so rounding can only keep more; the
         * exact tests follow below. */
        double bound = -INFINITY;
        if (min_p > 0.0) bound = lmax + log(min_p);
        if (top_p < 1.0) {
            double b = lmax + log((1.0 - top_p) / (double)n_finite * z);
            if (b > bound) bound = b;
        }
        bound -= 1e-3;
        for (uint32_t i = 0; i < n_vocab; i++)
            if (w[i] > -INFINITY && (double)w[i] >= bound) c[n++] = (cand){ w[i], (int32_t)i };
        if (top_p < 1.0 || min_p > 0.0) {
            qsort(c, n, sizeof *c, cmp_desc);
            sorted = true;
        }
    }

    if (sorted) {
        /* top-p: the shortest head whose probability reaches top_p */
        if (top_p < 1.0) {
            double cum = 0.0;
            for (size_t i = 0; i < n; i++) {
                cum += exp((double)c[i].logit - lmax) / z;
                if (cum >= top_p) {
                    n = i + 1;
                    break;
                }
            }
        }
        /* min-p: p_i / p_max = exp(logit_i - lmax) >= min_p; c[0] always stays */
        if (min_p > 0.0) {
            size_t keep = 1;
            while (keep < n && exp((double)c[keep].logit - lmax) >= min_p) keep++;
            n = keep;
        }
    }
    return draw(s, c, n, lmax, temp);
}
