/* The quantizer's block code (see quantize.c for the algorithms), compiled
 * once per instruction set: quantize.c includes it for the portable build
 * (4 lanes), quantize_avx2.c with -mavx2 (8 lanes). Before including:
 *   QZ_LANES     groups searched side by side (4 or 8)
 *   QZ_QUANTIZE  the name of this build's quant_quantize
 *   QZ_F16       the name of this build's quant_f16_to_f32
 * Every build makes the same bytes: each lane takes the steps of one group
 * alone, every float operation the same and in the same order (the files
 * are built with -ffp-contract=off: no fused multiply-adds). */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#if defined(__SSE__) || defined(__AVX__)
#include <immintrin.h>
#endif

#include "model/quant.h"
#include "util/half.h"

#define EPS 1e-15f /* a group whose largest |x| is below this is all zeros */

/* to nearest, ties to even: (int)lrintf(x); below 2^22 in magnitude by adding
 * and subtracting 1.5 * 2^23 (the same rounding, no library call) */
static int nearest(float x)
{
#if FLT_EVAL_METHOD == 0 /* float arithmetic rounds to float (no x87 excess precision) */
    if (fabsf(x) < 4194304.0f) return (int)((x + 12582912.0f) - 12582912.0f);
#endif
    return (int)lrintf(x);
}
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static float f16_round(float x) { return half_to_float(float_to_half(x)); }
static void put_f16(uint8_t *b, unsigned o, float x)
{
    uint16_t h = float_to_half(x);
    b[o] = (uint8_t)h;
    b[o + 1] = (uint8_t)(h >> 8);
}

/* the element of x with the largest magnitude (keeping its sign); *amax = |it| */
static float extreme(const float *x, int n, float *amax)
{
    float m = 0, a = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > a) {
            a = fabsf(x[i]);
            m = x[i];
        }
    *amax = a;
    return m;
}

/* sets nibble/bit fields: 4-bit quant e (0..31) of a 32-weight block */
static void put_nibble32(uint8_t *qs, unsigned e, int q)
{
    if (e < 16) qs[e] = (uint8_t)((qs[e] & 0xF0) | (q & 0xF));
    else qs[e - 16] = (uint8_t)((qs[e - 16] & 0x0F) | (q & 0xF) << 4);
}

/* ---------------------------------------------------------------- scale searches */

/* Asymmetric quants L[i] in 0..nmax with x ~ scale*L + min (min <= 0):
 * starting from the min/max fit, tries nstep+1 candidate scales
 * (nmax + rmin + rdelta*is)/(max - min) and, for each rounding they give,
 * the weighted least-squares scale and min; keeps the one with the least
 * weighted squared (or absolute, mad) error. Returns the scale; *neg_min =
 * -min.
 *
 * FIT_LANES groups at once, one per lane of a vector (the sub-blocks of a
 * super-block, transposed by load_groups: group j is lane j of xt[i] and
 * wt[i]; results in scale_out[j], neg_min[j] and the rounding that gave
 * them in a fit_rounding): each lane takes exactly the steps of
 * one group alone, every float operation the same, so the blocks are those
 * of one group at a time (llama.cpp's), but the lanes' sequential sums run
 * side by side instead of one chain of additions after another: 2-3x faster.
 * (The candidates themselves cannot run in parallel: an accepted one moves
 * the minimum the next ones start from.) */
#define FIT_LANES QZ_LANES
#define KB (FIT_LANES > 8 ? FIT_LANES / 8 : 1) /* blocks of 8 groups (Q4_K, Q5_K, IQ4_XS) searched together */
typedef float vfl __attribute__((vector_size(4 * FIT_LANES)));
typedef int32_t vil __attribute__((vector_size(4 * FIT_LANES)));
typedef uint32_t vul __attribute__((vector_size(4 * FIT_LANES)));
typedef uint8_t vu8 __attribute__((vector_size(FIT_LANES)));
static vfl vsel(vil m, vfl a, vfl b) { return (vfl)(((vil)a & m) | ((vil)b & ~m)); } /* m ? a : b, per lane */
static vfl vsplat(float f) { return (vfl){ 0 } + f; }
static vfl vabs(vfl v) { return (vfl)((vil)v & 0x7fffffff); } /* |v| per lane (the sign bit cleared) */
static int vany(vil m) /* any lane set (lanes are all ones or all zeros) */
{
#if FIT_LANES == 16 && defined(__AVX512F__)
    return _mm512_test_epi32_mask((__m512i)m, (__m512i)m) != 0;
#elif FIT_LANES == 8 && defined(__AVX__)
    return _mm256_movemask_ps((__m256)m) != 0;
#elif FIT_LANES == 4 && defined(__SSE__)
    return _mm_movemask_ps((__m128)m) != 0;
#else
    int any = 0;
    for (int j = 0; j < FIT_LANES; j++) any |= m[j];
    return any != 0;
#endif
}
/* the low bytes of FIT_LANES values in -128..127 to out (one instruction or
 * a few where the build has them, not a byte at a time) */
static void store_bytes(vil r, uint8_t *out)
{
#if FIT_LANES == 16 && defined(__AVX512F__)
    _mm_storeu_si128((__m128i *)out, _mm512_cvtsepi32_epi8((__m512i)r));
#elif FIT_LANES == 8 && defined(__AVX2__)
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128((__m256i)r), _mm256_extracti128_si256((__m256i)r, 1));
    _mm_storel_epi64((__m128i *)out, _mm_packs_epi16(w, w));
#elif FIT_LANES == 4 && defined(__SSE2__)
    __m128i w = _mm_packs_epi32((__m128i)r, (__m128i)r);
    int32_t v = _mm_cvtsi128_si32(_mm_packs_epi16(w, w));
    memcpy(out, &v, 4);
#else
    vu8 r8 = __builtin_convertvector(r, vu8); /* the low byte of each (two's complement) */
    memcpy(out, &r8, sizeof r8);
#endif
}
/* a > b ? a : b and a < b ? a : b per lane (b where either is NaN): x86's
 * max/min instructions exactly, one instruction instead of a compare and a
 * blend where the build has them */
#if FIT_LANES == 16 && defined(__AVX512F__)
static vfl vmax(vfl a, vfl b) { return (vfl)_mm512_max_ps((__m512)a, (__m512)b); }
static vfl vmin(vfl a, vfl b) { return (vfl)_mm512_min_ps((__m512)a, (__m512)b); }
#elif FIT_LANES == 8 && defined(__AVX__)
static vfl vmax(vfl a, vfl b) { return (vfl)_mm256_max_ps((__m256)a, (__m256)b); }
static vfl vmin(vfl a, vfl b) { return (vfl)_mm256_min_ps((__m256)a, (__m256)b); }
#elif FIT_LANES == 4 && defined(__SSE__)
static vfl vmax(vfl a, vfl b) { return (vfl)_mm_max_ps((__m128)a, (__m128)b); }
static vfl vmin(vfl a, vfl b) { return (vfl)_mm_min_ps((__m128)a, (__m128)b); }
#else
static vfl vmax(vfl a, vfl b) { return vsel(a > b, a, b); }
static vfl vmin(vfl a, vfl b) { return vsel(a < b, a, b); }
#endif
/* clampi(nearest(v), lo, hi) per lane, as a float: adding and subtracting
 * 1.5 * 2^23 rounds to the nearest integer, ties to even, exactly as lrintf
 * for |v| < 2^22 (beyond, both clamp to the same level); NaN and values past
 * int's range give lo (lrintf's INT_MIN there, clamped) */
static vfl vlevel(vfl v, vfl lo, vfl hi)
{
    vfl r = vmin(hi, vmax(lo, (v + 12582912.0f) - 12582912.0f)); /* r < lo ? lo : r, then r > hi ? hi : r */
    vfl a = vabs(v);
    return vsel(a < 2147483648.0f, r, lo);
}

/* vlevel without its check of the range: for the fast search, whose
 * roundings of finite weights by candidate scales stay far inside it
 * (a value past it still clamps to lo or hi; NaN gives NaN, whose sums
 * reject the candidate) */
static vfl vlevel_fast(vfl v, vfl lo, vfl hi) { return vmin(hi, vmax(lo, (v + 12582912.0f) - 12582912.0f)); }
/* one lane of vlevel (guard) or vlevel_fast: the same float operations */
static float level_of(float v, float lo, float hi, int guard)
{
    float r = (v + 12582912.0f) - 12582912.0f;
    r = lo > r ? lo : r; /* vmax(lo, r) */
    r = hi < r ? hi : r; /* vmin(hi, r) */
    return guard && !(fabsf(v) < 2147483648.0f) ? lo : r;
}

/* out[i] = clampi(nearest(v), lo, hi) + bias with v = (x[i] + add) / div, or
 * x[i] * div when mul, for n weights (a multiple of FIT_LANES): vlevel, with
 * lanes past its exact range (|v| >= 2^22, NaN) rounded one by one */
static void round_lanes(const float *x, int n, float add, float div, int mul, int lo, int hi, int bias, uint8_t *out)
{
    const vfl vlo = vsplat((float)lo), vhi = vsplat((float)hi);
    for (int i = 0; i < n; i += FIT_LANES) {
        vfl v;
        memcpy(&v, x + i, sizeof v);
        v = mul ? v * div : (v + add) / div;
        vil r = __builtin_convertvector(vlevel(v, vlo, vhi), vil) + bias;
        vil odd = ~(vabs(v) < 4194304.0f);
        if (!vany(odd)) {
            store_bytes(r, out + i); /* every caller's levels + bias lie in -128..127 */
            continue;
        }
        for (int j = 0; j < FIT_LANES; j++)
            out[i + j] = (uint8_t)(odd[j] ? clampi(nearest(v[j]), lo, hi) + bias : r[j]);
    }
}

/* sqrt per lane, correctly rounded (as sqrtf) */
static vfl vsqrt(vfl v)
{
#if FIT_LANES == 16 && defined(__AVX512F__)
    return (vfl)_mm512_sqrt_ps((__m512)v);
#elif FIT_LANES == 8 && defined(__AVX__)
    return (vfl)_mm256_sqrt_ps((__m256)v);
#elif FIT_LANES == 4 && defined(__SSE__)
    return (vfl)_mm_sqrt_ps((__m128)v);
#else
    for (int j = 0; j < FIT_LANES; j++) v[j] = sqrtf(v[j]);
    return v;
#endif
}

/* FIT_LANES groups of n weights (n a multiple of 8) side by side: xt[i]
 * lane j = x[n*j + i]; a transpose by shuffles or gathers where the build
 * has them (element by element through memory it costs more than a
 * candidate of the fast search) */
static void load_groups(const float *x, int n, vfl *xt)
{
#if FIT_LANES == 16 && defined(__AVX512F__)
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(n));
    for (int i = 0; i < n; i++) xt[i] = (vfl)_mm512_i32gather_ps(idx, x + i, 4);
#elif FIT_LANES == 8 && defined(__AVX__)
    for (int i0 = 0; i0 < n; i0 += 8) {
        __m256 r[8], t[8], u[8];
        for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(x + n * j + i0);
        for (int j = 0; j < 8; j += 2) {
            t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
            t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
        }
        for (int j = 0; j < 8; j += 4) {
            u[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
            u[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xEE);
            u[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
            u[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xEE);
        }
        for (int k = 0; k < 4; k++) {
            xt[i0 + k] = (vfl)_mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
            xt[i0 + k + 4] = (vfl)_mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
        }
    }
#elif FIT_LANES == 4 && defined(__SSE__)
    for (int i0 = 0; i0 < n; i0 += 4) {
        __m128 r0 = _mm_loadu_ps(x + i0), r1 = _mm_loadu_ps(x + n + i0), r2 = _mm_loadu_ps(x + 2 * n + i0),
               r3 = _mm_loadu_ps(x + 3 * n + i0);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        xt[i0] = (vfl)r0, xt[i0 + 1] = (vfl)r1, xt[i0 + 2] = (vfl)r2, xt[i0 + 3] = (vfl)r3;
    }
#else
    for (int i = 0; i < n; i++)
        for (int j = 0; j < FIT_LANES; j++) xt[i][j] = x[n * j + i];
#endif
}

/* The candidates of a search: llama.cpp's (exact) or a few of them (fast). */
typedef struct fit_steps {
    const int8_t *is;
    int n;
    int fast; /* the error from the sums (no second pass), then one refit from the best scale */
} fit_steps;

static const int8_t steps_0_20[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
static const int8_t steps_signed[] = { 0, -9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
static const int8_t steps_iq4[] = { -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7 };
/* fast (chosen by the RMS error they give against exact; see quantize.c) */
static const int8_t fast_q4k[] = { 6, 14, 2 }, fast_q5k[] = { 3, 8, 1 }, fast_q2k[] = { 1, 4, 7, 10, 13 };
static const int8_t fast_signed[] = { 0, -5, 5, -9 }, fast_iq4[] = { -8, -6, -3, 0, 3, 6 };
#define Q3K_FAST_SWEEPS 1
#define STEPS(a, f) ((fit_steps){ (a), (int)sizeof(a), (f) })

/* The quants of a search's result: the rounding that gave its best
 * candidate, kept as the scale and minimum it rounded with (storing every
 * candidate's quants cost more than the rounding); the K-quants re-round
 * every weight with the stored scales anyway, so only a sub-block whose
 * scale is stored as 0 needs them. */
typedef struct fit_rounding {
    float iscale[FIT_LANES], min[FIT_LANES];
    uint8_t live[FIT_LANES]; /* 0: an empty group, all quants 0 */
    int guard;               /* the rounding was vlevel's (1) or vlevel_fast's */
} fit_rounding;
/* group j's n quants, lane j's steps again: of a min fit (x ~ scale L + min) */
static void fit_min_quants(const fit_rounding *r, int j, const float *x, int n, int nmax, uint8_t *L)
{
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)(r->live[j] ? level_of(r->iscale[j] * (x[i] - r->min[j]), 0, (float)nmax, r->guard) : 0);
}
/* of a signed fit (x ~ scale (L - nmax)) */
static void fit_signed_quants(const fit_rounding *r, int j, const float *x, int n, int nmax, uint8_t *L)
{
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)(r->live[j] ? (int)level_of(r->iscale[j] * x[i], (float)-nmax, (float)(nmax - 1), 1) + nmax : 0);
}

/* the sums a fast candidate is judged by, of the rounding l = vlevel_fast(iscale (x - mn)):
 * sum w l, sum w l^2, sum w x l */
static void fast_sums(int n, const vfl *xt, const vfl *wt, vfl iscale, vfl mn, vfl fmax, vfl *sl, vfl *sl2, vfl *sxl)
{
    const vfl zero = vsplat(0);
    vfl a = zero, b = zero, c = zero;
    for (int i = 0; i < n; i++) {
        vfl l = vlevel_fast(iscale * (xt[i] - mn), zero, fmax), wl = wt[i] * l;
        a += wl;
        b += wl * l;
        c += wl * xt[i];
    }
    *sl = a, *sl2 = b, *sxl = c;
}

/* xt, wt: FIT_LANES groups of n as load_groups gives them; the result's
 * rounding to *r. exact: the candidates is = 0..nstep of the comment above,
 * every operation as llama.cpp's make_qkx2_quants. fast (see quantize.c):
 * the candidates of st->is only, the squared error of each from the sums it
 * already has (sum w (s l + m - x)^2 expanded; not for mad), and at the end
 * one more candidate, the rounding by the best scale and minimum found,
 * refitted. */
static void fit_scale_min_lanes(int n, int nmax, const vfl *xt, const vfl *wt, fit_rounding *r, float *scale_out,
                                float *neg_min, float rmin, float rdelta, const fit_steps *st, int mad)
{
    enum { J = FIT_LANES };
    vfl at[32]; /* [i], lane j: candidate quants of group j (exact only: its error takes a second pass) */
    const int fast = st->fast && !mad;
    const vfl fmax = vsplat((float)nmax), zero = vsplat(0), one = vsplat(1);
    vfl mn = xt[0], mx = xt[0], sum_w = wt[0], sum_x = wt[0] * xt[0], sum_x2 = sum_x * xt[0];
    for (int i = 1; i < n; i++) {
        mn = vsel(xt[i] < mn, xt[i], mn);
        mx = vsel(xt[i] > mx, xt[i], mx);
        sum_w += wt[i];
        vfl wx = wt[i] * xt[i];
        sum_x += wx;
        if (fast) sum_x2 += wx * xt[i];
    }
    mn = vsel(mn > 0.0f, zero, mn);
    const vil live = mx != mn;
    vfl iscale = vsel(live, fmax / vsel(live, mx - mn, one), zero);
    vfl scale = vsel(live, one / vsel(live, iscale, one), zero), best = zero;
    vfl r_iscale = iscale, r_min = mn; /* the best rounding's */
    /* the error of sums (s, m): sum w (s l + m - x)^2 from sum w l, w l^2, w x l */
#define SUM_ERR(s, m, sl, sl2, sxl)                                                                                  \
    ((s) * (s) * (sl2) + (m) * (m) * sum_w + sum_x2 + 2.0f * (s) * (m) * (sl) - 2.0f * (s) * (sxl) - 2.0f * (m) * sum_x)
    vfl init_sl = zero, init_sl2 = zero, init_sxl = zero;
    if (fast) {
        fast_sums(n, xt, wt, iscale, mn, fmax, &init_sl, &init_sl2, &init_sxl);
        best = SUM_ERR(scale, mn, init_sl, init_sl2, init_sxl);
    } else {
        for (int i = 0; i < n; i++) {
            vfl l = vlevel(iscale * (xt[i] - mn), zero, fmax);
            vfl diff = scale * l + mn - xt[i];
            best += wt[i] * (mad ? vabs(diff) : diff * diff);
        }
    }
    /* fast: the first rounding's own least-squares fit too (its sums are there: a candidate for free) */
    const int n_cand = st->n + (st->fast ? 1 : 0) + fast;
    for (int c = 0; c < n_cand; c++) {
        vfl sum_l = zero, sum_l2 = zero, sum_xl = zero, err = zero;
        if (fast && c == 0) {
            sum_l = init_sl, sum_l2 = init_sl2, sum_xl = init_sxl;
        } else if (c < st->n + fast) {
            iscale = vsel(live, (rmin + rdelta * (float)st->is[c - fast] + (float)nmax) / vsel(live, mx - mn, one), zero);
        } else { /* fast: the best so far, refitted */
            vil pos = live & (scale > 0.0f);
            iscale = vsel(pos, one / vsel(pos, scale, one), zero);
        }
        if (fast && c > 0) {
            fast_sums(n, xt, wt, iscale, mn, fmax, &sum_l, &sum_l2, &sum_xl);
        } else if (!fast) {
            for (int i = 0; i < n; i++) {
                vfl l = vlevel(iscale * (xt[i] - mn), zero, fmax);
                at[i] = l;
                sum_l += wt[i] * l;
                sum_l2 += wt[i] * (l * l);
                sum_xl += wt[i] * l * xt[i];
            }
        }
        vfl D = sum_w * sum_l2 - sum_l * sum_l;
        vil ok = live & (D > 0.0f);
        vfl Dd = vsel(ok, D, one);
        vfl s = (sum_w * sum_xl - sum_x * sum_l) / Dd, m = (sum_l2 * sum_x - sum_l * sum_xl) / Dd;
        vil pos = m > 0.0f;
        m = vsel(pos, zero, m);
        s = vsel(pos, sum_xl / vsel(sum_l2 > 0.0f, sum_l2, one), s);
        s = vsel(ok, s, zero);
        m = vsel(ok, m, zero);
        if (fast) {
            err = SUM_ERR(s, m, sum_l, sum_l2, sum_xl);
        } else {
            for (int i = 0; i < n; i++) {
                vfl diff = s * at[i] + m - xt[i];
                err += wt[i] * (mad ? vabs(diff) : diff * diff);
            }
        }
        vil better = ok & (err < best);
        r_iscale = vsel(better, iscale, r_iscale);
        r_min = vsel(better, mn, r_min);
        best = vsel(better, err, best);
        scale = vsel(better, s, scale);
        mn = vsel(better, m, mn);
    }
#undef SUM_ERR
    r->guard = !fast;
    for (int j = 0; j < J; j++) {
        r->iscale[j] = r_iscale[j];
        r->min[j] = r_min[j];
        r->live[j] = live[j] != 0;
        neg_min[j] = -mn[j];
        scale_out[j] = live[j] ? scale[j] : 0;
    }
}

/* Symmetric quants L[i] - nmax in -nmax..nmax-1 with x ~ scale*(L - nmax),
 * weighted by x^2: the scale that maps the extreme value to -nmax, then
 * 18 nearby ones (fast: st's few), keeping the rounding with the best
 * least-squares fit. FIT_LANES groups at once, one per lane, as
 * fit_scale_min_lanes (group j: lane j of xt[i]; scale to scale_out[j], its
 * rounding to *r). */
static void fit_scale_signed_lanes(int n, int nmax, const vfl *xt, fit_rounding *r, float *scale_out,
                                   const fit_steps *st)
{
    enum { J = FIT_LANES };
    const vfl zero = vsplat(0), one = vsplat(1), lo = vsplat((float)-nmax), hi = vsplat((float)(nmax - 1));
    vfl m = zero, amax = zero; /* extreme(): the element of the largest magnitude, the first of equals */
    for (int i = 0; i < n; i++) {
        vfl a = vabs(xt[i]);
        vil gt = a > amax;
        amax = vsel(gt, a, amax);
        m = vsel(gt, xt[i], m);
    }
    const vil live = ~(amax < EPS);
    vfl best = zero, scale = zero, r_iscale = zero, wt[32], wx[32]; /* weights x^2 and x^2 * x, the same each candidate */
    for (int i = 0; i < n; i++) wt[i] = xt[i] * xt[i], wx[i] = wt[i] * xt[i];
    for (int is = 0; is < st->n; is++) {
        int step = st->is[is]; /* exact: 0 first, then -9..-1, 1..9 */
        vfl iscale = vsel(live, -((float)nmax + 0.1f * (float)step) / vsel(live, m, one), zero);
        vfl sumlx = zero, suml2 = zero;
        for (int i = 0; i < n; i++) {
            vfl l = vlevel(iscale * xt[i], lo, hi);
            sumlx += wx[i] * l;
            suml2 += wt[i] * (l * l);
        }
        vil has = suml2 > 0.0f;
        vil take = is == 0 ? ~(vil){ 0 } : has & (sumlx * sumlx > best * suml2);
        vfl sc = vsel(has, sumlx / vsel(has, suml2, one), zero);
        r_iscale = vsel(take, iscale, r_iscale);
        scale = vsel(take, sc, scale);
        best = vsel(take, sc * sumlx, best);
    }
    r->guard = 1;
    for (int j = 0; j < J; j++) {
        r->iscale[j] = r_iscale[j];
        r->min[j] = 0;
        r->live[j] = live[j] != 0;
        scale_out[j] = live[j] ? scale[j] : 0;
    }
}

/* As fit_scale_signed_lanes for one group, but improving the rounding one
 * weight at a time (up to five sweeps): each quant moves to the value the least-squares fit of the
 * others asks for, when that lowers the error. */
static float fit_scale_signed_iter(int n, int nmax, const float *x, uint8_t *L, int sweeps)
{
    float amax, m = extreme(x, n, &amax);
    if (amax < EPS) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    float iscale = -(float)nmax / m, sumlx = 0, suml2 = 0;
    int q[32];
    for (int i = 0; i < n; i++) {
        q[i] = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)q[i];
        suml2 += w * (float)(q[i] * q[i]);
    }
    for (int sweep = 0; sweep < sweeps; sweep++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i], slx = sumlx - w * x[i] * (float)q[i];
            if (slx <= 0) continue;
            float sl2 = suml2 - w * (float)(q[i] * q[i]);
            int nl = clampi(nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == q[i]) continue;
            slx += w * x[i] * (float)nl;
            sl2 += w * (float)(nl * nl);
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                q[i] = nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(q[i] + nmax);
    return suml2 > 0 ? sumlx / suml2 : 0;
}

/* fit_scale_signed_iter for FIT_LANES groups at once (group j of n at
 * x + n*j, quants to L + n*j, scales to scale_out[j]), each lane the steps
 * of its group alone; a lane stops changing when a sweep changed nothing
 * (a further sweep would repeat it), and the sweeps end when all have.
 * vlevel() is clampi(nearest()) for |v| < 2^22; a group whose rounding ever
 * sees a larger value or NaN (far-apart weights) is redone by the scalar
 * search, so the result is always that of fit_scale_signed_iter. */
static void fit_scale_signed_iter_lanes(int n, int nmax, const float *x, uint8_t *L, float *scale_out, int sweeps)
{
    enum { J = FIT_LANES };
    vfl xt[32], wt[32], wx[32], q[32]; /* [i], lane j: x, x^2, x^2 * x, quant of group j */
    load_groups(x, n, xt);
    const vfl zero = vsplat(0), one = vsplat(1), lo = vsplat((float)-nmax), hi = vsplat((float)(nmax - 1));
    const vfl big = vsplat(4194304.0f);
    vfl m = zero, amax = zero;
    for (int i = 0; i < n; i++) {
        vfl a = vabs(xt[i]);
        vil gt = a > amax;
        amax = vsel(gt, a, amax);
        m = vsel(gt, xt[i], m);
        wt[i] = xt[i] * xt[i];
        wx[i] = wt[i] * xt[i];
    }
    vil live = ~(amax < EPS), odd = (vil){ 0 }; /* odd: a rounding past vlevel's exact range */
    const vfl iscale = -(float)nmax / vsel(live, m, one);
    vfl sumlx = zero, suml2 = zero;
    for (int i = 0; i < n; i++) {
        vfl v = iscale * xt[i];
        odd |= ~(vabs(v) < big);
        q[i] = vlevel(v, lo, hi);
        sumlx += wx[i] * q[i];
        suml2 += wt[i] * (q[i] * q[i]);
    }
    vil going = live;
    for (int sweep = 0; sweep < sweeps; sweep++) {
        vil changed = (vil){ 0 };
        for (int i = 0; i < n; i++) {
            vfl slx = sumlx - wx[i] * q[i];
            vil act = going & ~(slx <= 0.0f);
            vfl sl2 = suml2 - wt[i] * (q[i] * q[i]);
            vfl v = xt[i] * sl2 / vsel(act, slx, one);
            odd |= act & ~(vabs(v) < big);
            vfl nl = vlevel(v, lo, hi);
            act &= nl != q[i];
            slx += wx[i] * nl;
            sl2 += wt[i] * (nl * nl);
            act &= (sl2 > 0.0f) & (slx * slx * suml2 > sumlx * sumlx * sl2);
            q[i] = vsel(act, nl, q[i]);
            sumlx = vsel(act, slx, sumlx);
            suml2 = vsel(act, sl2, suml2);
            changed |= act;
        }
        going &= changed;
        if (!vany(going)) break;
    }
    vil pos = suml2 > 0.0f;
    vfl sc = vsel(pos, sumlx / vsel(pos, suml2, one), zero);
    for (int j = 0; j < J; j++) {
        if (live[j] && odd[j]) {
            scale_out[j] = fit_scale_signed_iter(n, nmax, x + n * j, L + n * j, sweeps);
            continue;
        }
        for (int i = 0; i < n; i++) L[n * j + i] = (uint8_t)(live[j] ? (int)q[i][j] + nmax : 0);
        scale_out[j] = live[j] ? sc[j] : 0;
    }
}

/* ---------------------------------------------------------------- blocks of 32 */

static void q8_0(const float *x, uint8_t *b)
{
    vfl m = vsplat(0); /* the largest |x|, lane by lane (a maximum: the same in any order) */
    for (int i = 0; i < 32; i += FIT_LANES) {
        vfl v;
        memcpy(&v, x + i, sizeof v);
        v = vabs(v);
        m = vsel(v > m, v, m);
    }
    float amax = 0;
    for (int j = 0; j < FIT_LANES; j++) amax = m[j] > amax ? m[j] : amax;
    float d = f16_round(amax / 127), id = d ? 1 / d : 0;
    put_f16(b, 0, d);
    round_lanes(x, 32, 0, id, 1, -127, 127, 0, b + 2); /* int8 quants, two's complement */
}

/* Q4_0 / Q5_0: the extreme value maps to -8 / -16 */
static void qx_0(const float *x, uint8_t *b, int bits)
{
    float amax, m = extreme(x, 32, &amax);
    int half = 1 << (bits - 1), top = (1 << bits) - 1;
    float d = f16_round(m / (float)-half), id = d ? 1 / d : 0;
    put_f16(b, 0, d);
    uint8_t *qs = b + (bits == 4 ? 2 : 6);
    uint32_t qh = 0;
    for (unsigned e = 0; e < 32; e++) {
        int q = clampi((int)floorf(x[e] * id + (float)half + 0.5f), 0, top);
        put_nibble32(qs, e, q);
        qh |= (uint32_t)(q >> 4 & 1) << e;
    }
    if (bits == 5)
        for (int i = 0; i < 4; i++) b[2 + i] = (uint8_t)(qh >> (8 * i));
}

/* Q4_1 / Q5_1: min and max map to 0 and 15 / 31 */
static void qx_1(const float *x, uint8_t *b, int bits)
{
    float mn = x[0], mx = x[0];
    for (int e = 1; e < 32; e++) {
        if (x[e] < mn) mn = x[e];
        if (x[e] > mx) mx = x[e];
    }
    int top = (1 << bits) - 1;
    float d = f16_round((mx - mn) / (float)top), id = d ? 1 / d : 0, m = f16_round(mn);
    put_f16(b, 0, d);
    put_f16(b, 2, m);
    uint8_t *qs = b + (bits == 4 ? 4 : 8);
    uint32_t qh = 0;
    for (unsigned e = 0; e < 32; e++) {
        int q = clampi((int)floorf((x[e] - m) * id + 0.5f), 0, top);
        put_nibble32(qs, e, q);
        qh |= (uint32_t)(q >> 4 & 1) << e;
    }
    if (bits == 5)
        for (int i = 0; i < 4; i++) b[4 + i] = (uint8_t)(qh >> (8 * i));
}

/* ---------------------------------------------------------------- IQ4 */

static const int8_t iq4_table[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

/* The table value nearest to v (the upper one of two equally near): the
 * number k of midpoints between neighbours that v reaches. This is exactly
 * the binary search v <= t[0] ? 0 : v >= t[15] ? 15 : (t[lo] <= v <
 * t[lo+1]: v - t[lo] < t[lo+1] - v ? lo : lo+1) for every float v (checked
 * over all 2^32 of them: near each midpoint both differences are exact);
 * NaN gives 15, as that search does. The midpoints are halves of integers
 * (t[i] + t[i+1]) / 2, so v reaches one exactly when floor(2v) does: k is a
 * table of floor(2v) over [-256, 256] (v clamped to [-128, 128], beyond every
 * midpoint), looked up per lane instead of 15 comparisons. */
static int iq4_k_of_2v[513]; /* [floor(2v) + 256]: k */
static float iq4_q_of_2v[513]; /* [floor(2v) + 256]: t[k] */
static void iq4_tables_make(void)
{
    for (int f = -256; f <= 256; f++) {
        int k = 0;
        for (int i = 0; i < 15; i++) k += f >= iq4_table[i] + iq4_table[i + 1];
        iq4_q_of_2v[f + 256] = (float)iq4_table[k];
        iq4_k_of_2v[f + 256] = k;
    }
}
static pthread_once_t iq4_tables_once = PTHREAD_ONCE_INIT;
static void iq4_tables_init(void) { pthread_once(&iq4_tables_once, iq4_tables_make); }
/* floor(2 clamp(v, -128, 128)) + 256 per lane, 0..512 (NaN: any; the callers set its result) */
static vil iq4_slot(vfl v)
{
    vfl c = vmin(vsplat(128.0f), vmax(vsplat(-128.0f), v)) * 2.0f; /* exact: |c| <= 256 */
    vfl r = (c + 12582912.0f) - 12582912.0f;                        /* c to nearest (exact below 2^22) */
    r = vsel(r > c, r - 1.0f, r);                                  /* floor */
    return __builtin_convertvector(vsel(c == c, r, vsplat(0.0f)), vil) + 256;
}
/* per lane: the nearest table value, and its index */
static vfl iq4_value_lanes(vfl v)
{
    vil f = iq4_slot(v);
    vfl q;
#if FIT_LANES == 8 && defined(__AVX2__)
    q = (vfl)_mm256_i32gather_ps(iq4_q_of_2v, (__m256i)f, 4);
#elif FIT_LANES == 16 && defined(__AVX512F__)
    q = (vfl)_mm512_i32gather_ps((__m512i)f, iq4_q_of_2v, 4);
#else
    for (int j = 0; j < FIT_LANES; j++) q[j] = iq4_q_of_2v[f[j]];
#endif
    return vsel(v != v, vsplat((float)iq4_table[15]), q);
}
static vil iq4_index_lanes(vfl v)
{
    vil f = iq4_slot(v), k;
    for (int j = 0; j < FIT_LANES; j++) k[j] = iq4_k_of_2v[f[j]]; /* (once per weight: no gather needed) */
    return (vil)vsel(v != v, (vfl)((vil){ 0 } + 15), (vfl)k);
}

/* The best scale of a 32-weight group for the table (weighted by x^2): the
 * extreme value on the table's end, then 15 neighbouring scales. FIT_LANES
 * groups at once (group j at x + 32*j, its scale to d_out[j]), each lane the
 * steps of one group alone as in fit_scale_min_lanes. */
static void iq4_fit_lanes(const float *x, float *d_out, const fit_steps *st)
{
    enum { J = FIT_LANES };
    vfl xt[32], wt[32]; /* [i], lane j: x, x^2 of group j */
    load_groups(x, 32, xt);
    const vfl zero = vsplat(0), one = vsplat(1);
    vfl m = zero, amax = zero; /* extreme(): the element of the largest magnitude, the first of equals */
    for (int i = 0; i < 32; i++) {
        vfl a = vabs(xt[i]);
        vil gt = a > amax;
        amax = vsel(gt, a, amax);
        m = vsel(gt, xt[i], m);
        wt[i] = xt[i] * xt[i];
    }
    const vil live = ~(amax < EPS);
    const vfl mm = vsel(live, m, one);
    vfl best = zero, d = zero;
    for (int c = 0; c < st->n; c++) { /* -8: d = -m / table[0]; then (exact) 15 scales around it */
        const int t = st->is[c];
        vfl id = t == -8 ? -(float)iq4_table[0] / mm : ((float)t + (float)iq4_table[0]) / mm;
        vfl sumqx = zero, sumq2 = zero;
        for (int i = 0; i < 32; i++) {
            vfl q = iq4_value_lanes(id * xt[i]), wq = wt[i] * q;
            sumqx += wq * xt[i];
            sumq2 += wq * q;
        }
        vil has = sumq2 > 0.0f;
        vil take = c == 0 ? ~(vil){ 0 } : has & (sumqx * sumqx > best * sumq2);
        vfl dd = vsel(has, sumqx / vsel(has, sumq2, one), zero);
        d = vsel(take, dd, d);
        best = vsel(take, dd * sumqx, best);
    }
    for (int j = 0; j < J; j++) d_out[j] = live[j] ? d[j] : 0;
}

/* the nibbles of ng (up to FIT_LANES) groups of 32 (group j: x + 32*j, to
 * qs + 16*j) nearest to x * id[j] */
static void iq4_put_lanes(const float *x, const float *id, uint8_t *qs, int ng)
{
    enum { J = FIT_LANES };
    vfl idv = vsplat(0);
    for (int j = 0; j < ng; j++) idv[j] = id[j];
    for (int e = 0; e < 32; e++) {
        vfl xe = vsplat(0);
        for (int j = 0; j < ng; j++) xe[j] = x[32 * j + e];
        vil k = iq4_index_lanes(idv * xe);
        for (int j = 0; j < ng; j++) put_nibble32(qs + 16 * j, (unsigned)e, k[j]);
    }
}

/* n blocks of IQ4_NL, FIT_LANES at a time (the last ones padded with zero
 * groups, whose results are dropped) */
static void iq4_nl_blocks(const float *x, uint8_t *b, uint64_t n, const fit_steps *st)
{
    enum { J = FIT_LANES };
    float pad[32 * J], d[J], id[J];
    uint8_t qs[16 * J];
    for (uint64_t i = 0; i < n; i += J) {
        const float *xs = x + 32 * i;
        unsigned nb = n - i < J ? (unsigned)(n - i) : J;
        if (nb < J) {
            memset(pad, 0, sizeof pad);
            memcpy(pad, xs, 32 * nb * sizeof(float));
            xs = pad;
        }
        iq4_fit_lanes(xs, d, st);
        for (int j = 0; j < J; j++) {
            d[j] = f16_round(d[j]);
            id[j] = d[j] ? 1 / d[j] : 0;
        }
        memset(qs, 0, sizeof qs);
        iq4_put_lanes(xs, id, qs, J);
        for (unsigned j = 0; j < nb; j++) {
            uint8_t *o = b + 18 * (i + j);
            put_f16(o, 0, d[j]);
            memcpy(o + 2, qs + 16 * j, 16);
        }
    }
}

/* the scales of nb (1 to KB) blocks of IQ4_XS side by side, as qx_k */
static void iq4_xs_finish(const float *x, uint8_t *b, const float *sc);
static void iq4_xs(const float *x, uint8_t *b, int nb, const fit_steps *st)
{
    float sc[8 * KB], pad[256 * KB];
    if (nb < KB) {
        memset(pad, 0, sizeof pad);
        memcpy(pad, x, 256 * (size_t)nb * sizeof *x);
        x = pad;
    }
    for (int i = 0; i < 8 * KB; i += FIT_LANES) iq4_fit_lanes(x + 32 * i, sc + i, st);
    for (int k = 0; k < nb; k++) iq4_xs_finish(x + 256 * k, b + 136 * k, sc + 8 * k);
}

static void iq4_xs_finish(const float *x, uint8_t *b, const float *sc)
{
    enum { J = FIT_LANES };
    float amax = 0, max_scale = 0, idl[8];
    for (int i = 0; i < 8; i++) {
        if (fabsf(sc[i]) > amax) {
            amax = fabsf(sc[i]);
            max_scale = sc[i];
        }
    }
    memset(b, 0, 136);
    float d = -max_scale / 32, id = d ? 1 / d : 0;
    put_f16(b, 0, d);
    unsigned sh = 0;
    for (int i = 0; i < 8; i++) {
        int l = clampi(nearest(id * sc[i]), -32, 31);
        float dl = f16_round(d) * (float)l;
        idl[i] = dl ? 1 / dl : 0;
        l += 32;
        b[4 + i / 2] |= (uint8_t)((l & 0xF) << (4 * (i % 2)));
        sh |= (unsigned)(l >> 4) << (2 * i);
    }
    for (int i = 0; i < 8; i += FIT_LANES) iq4_put_lanes(x + 32 * i, idl + i, b + 8 + 16 * i, 8 - i < J ? 8 - i : J);
    b[2] = (uint8_t)sh;
    b[3] = (uint8_t)(sh >> 8);
}

/* ---------------------------------------------------------------- K-quants */

/* 2-bit quants of Q2_K/Q3_K: weight k in bits 2j of byte 32n + l (n = k/128,
 * j = (k%128)/32, l = k%32) */
static void put_2bit(uint8_t *qs, const uint8_t *L)
{
    for (unsigned n = 0; n < 2; n++)
        for (unsigned l = 0; l < 32; l++) {
            const uint8_t *k = L + 128 * n + l;
            qs[32 * n + l] = (uint8_t)((k[0] & 3) | (k[32] & 3) << 2 | (k[64] & 3) << 4 | (k[96] & 3) << 6);
        }
}

static void q2_k(const float *x, uint8_t *b, int fast)
{
    uint8_t L[256];
    fit_rounding r[16 / FIT_LANES + 1];
    float sc[16], mins[16], max_scale = 0, max_min = 0;
    const fit_steps st = fast ? STEPS(fast_q2k, 1) : (fit_steps){ steps_0_20, 16, 0 };
    for (int h = 0; h < 16; h += FIT_LANES) {
        vfl xt[16], wt[16];
        load_groups(x + 16 * h, 16, xt);
        for (int i = 0; i < 16; i++) wt[i] = vabs(xt[i]);
        fit_scale_min_lanes(16, 3, xt, wt, &r[h / FIT_LANES], sc + h, mins + h, -0.5f, 0.1f, &st, 1);
    }
    for (int j = 0; j < 16; j++) {
        if (sc[j] > max_scale) max_scale = sc[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    memset(b, 0, 84);
    for (int j = 0; j < 16; j++) {
        int ls = max_scale > 0 ? nearest(15 / max_scale * sc[j]) : 0;
        int lm = max_min > 0 ? nearest(15 / max_min * mins[j]) : 0;
        b[j] = (uint8_t)(clampi(ls, 0, 15) | clampi(lm, 0, 15) << 4);
    }
    put_f16(b, 80, max_scale > 0 ? max_scale / 15 : 0);
    put_f16(b, 82, max_min > 0 ? max_min / 15 : 0);
    float d = half_to_float((uint16_t)(b[80] | b[81] << 8)), dmin = half_to_float((uint16_t)(b[82] | b[83] << 8));
    for (int j = 0; j < 16; j++) {
        float dl = d * (float)(b[j] & 0xF), ml = dmin * (float)(b[j] >> 4);
        if (dl) round_lanes(x + 16 * j, 16, ml, dl, 0, 0, 3, 0, L + 16 * j);
        else fit_min_quants(&r[j / FIT_LANES], j % FIT_LANES, x + 16 * j, 16, 3, L + 16 * j);
    }
    put_2bit(b + 16, L);
}

/* The largest magnitude of the 16 sub-block scales (*amax) and the scale
 * that has it, sign kept (the first one on a tie): Q3_K's and Q6_K's. */
static float largest_scale(const float sc[16], float *amax)
{
    float max_scale = 0;
    *amax = 0;
    for (int j = 0; j < 16; j++) {
        if (fabsf(sc[j]) > *amax) {
            *amax = fabsf(sc[j]);
            max_scale = sc[j];
        }
    }
    return max_scale;
}

static void q3_k(const float *x, uint8_t *b, int fast)
{
    uint8_t L[256];
    float sc[16], amax;
    for (int h = 0; h < 16; h += FIT_LANES)
        fit_scale_signed_iter_lanes(16, 4, x + 16 * h, L + 16 * h, sc + h, fast ? Q3K_FAST_SWEEPS : 5);
    const float max_scale = largest_scale(sc, &amax);
    memset(b, 0, 110);
    int ls[16] = { 0 };
    if (max_scale != 0) {
        float iscale = -32 / max_scale;
        for (int j = 0; j < 16; j++) ls[j] = clampi(nearest(iscale * sc[j]), -32, 31);
        put_f16(b, 108, 1 / iscale);
    }
    for (unsigned i = 0; i < 16; i++) { /* the inverse of quant.c's q3_k_scale */
        unsigned u = (unsigned)(ls[i] + 32);
        b[96 + i % 8] |= (uint8_t)((u & 0xF) << (i < 8 ? 0 : 4));
        b[96 + 8 + i % 4] |= (uint8_t)((u >> 4) << (2 * (i / 4)));
    }
    float d = half_to_float((uint16_t)(b[108] | b[109] << 8));
    for (int j = 0; j < 16; j++) {
        float dl = d * (float)ls[j];
        if (!dl) continue;
        round_lanes(x + 16 * j, 16, 0, dl, 0, -4, 3, 4, L + 16 * j); /* x + 0: x, but -0 (rounds to 0 as well) */
    }
    for (unsigned l = 0; l < 32; l++) { /* high bit k/32 of byte k%32: set when the quant is >= 0 (L >= 4) */
        unsigned h = 0;
        for (unsigned i = 0; i < 8; i++) h |= (unsigned)(L[32 * i + l] >> 2) << i;
        b[l] = (uint8_t)h;
    }
    for (unsigned k = 0; k < 256; k++) L[k] &= 3;
    put_2bit(b + 32, L);
}

/* Q4_K / Q5_K: eight sub-blocks of 32 with 6-bit scales and mins */
static void qx_k_finish(const float *x, uint8_t *b, int bits, const fit_rounding *r, int g0, const float *sc,
                        const float *mins);

/* Q4_K / Q5_K: eight sub-blocks of 32 with 6-bit scales and mins; nb (1 to
 * KB) consecutive blocks, so that wide builds search more sub-blocks side by
 * side than one block has (the rest of the lanes get zero groups) */
static void qx_k(const float *x, uint8_t *b, int bits, int nb, int fast)
{
    int nmax = (1 << bits) - 1;
    fit_rounding r[8 * KB / FIT_LANES];
    float sc[8 * KB], mins[8 * KB], pad[256 * KB];
    if (nb < KB) {
        memset(pad, 0, sizeof pad);
        memcpy(pad, x, 256 * (size_t)nb * sizeof *x);
        x = pad;
    }
    const fit_steps st = bits == 4 ? (fast ? STEPS(fast_q4k, 1) : STEPS(steps_0_20, 0))
                                   : (fast ? STEPS(fast_q5k, 1) : (fit_steps){ steps_0_20, 16, 0 });
    for (int h = 0; h < 8 * KB; h += FIT_LANES) {
        vfl xt[32], wt[32], sum_x2 = vsplat(0);
        load_groups(x + 32 * h, 32, xt);
        for (int i = 0; i < 32; i++) sum_x2 += xt[i] * xt[i]; /* each lane in order, as one group alone */
        const vfl av_x = vsqrt(sum_x2 / 32.0f);
        for (int i = 0; i < 32; i++) wt[i] = av_x + vabs(xt[i]); /* the weights: av_x + |x| */
        fit_rounding *rh = &r[h / FIT_LANES];
        if (bits == 4) fit_scale_min_lanes(32, nmax, xt, wt, rh, sc + h, mins + h, -1.0f, 0.1f, &st, 0);
        else fit_scale_min_lanes(32, nmax, xt, wt, rh, sc + h, mins + h, -0.5f, 0.1f, &st, 0);
    }
    for (int k = 0; k < nb; k++)
        qx_k_finish(x + 256 * k, b + (size_t)k * (bits == 4 ? 144 : 176), bits, r, 8 * k, sc + 8 * k, mins + 8 * k);
}

/* one block of qx_k: the sub-block scales and mins quantized, every weight
 * re-rounded with them, packed */
static void qx_k_finish(const float *x, uint8_t *b, int bits, const fit_rounding *r, int g0, const float *sc,
                        const float *mins)
{
    uint8_t L[256];
    int nmax = (1 << bits) - 1;
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        if (sc[j] > max_scale) max_scale = sc[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    size_t bytes = bits == 4 ? 144 : 176;
    memset(b, 0, bytes);
    float inv_scale = max_scale > 0 ? 63 / max_scale : 0, inv_min = max_min > 0 ? 63 / max_min : 0;
    int ls[8], lm[8];
    uint8_t *s = b + 4;
    for (unsigned i = 0; i < 8; i++) { /* the inverse of quant.c's k4_scale_min */
        ls[i] = clampi(nearest(inv_scale * sc[i]), 0, 63);
        lm[i] = clampi(nearest(inv_min * mins[i]), 0, 63);
        if (i < 4) {
            s[i] |= (uint8_t)ls[i];
            s[i + 4] |= (uint8_t)lm[i];
        } else {
            s[i + 4] = (uint8_t)((ls[i] & 0xF) | (lm[i] & 0xF) << 4);
            s[i - 4] |= (uint8_t)((ls[i] >> 4) << 6);
            s[i] |= (uint8_t)((lm[i] >> 4) << 6);
        }
    }
    put_f16(b, 0, max_scale / 63);
    put_f16(b, 2, max_min / 63);
    float d = half_to_float((uint16_t)(b[0] | b[1] << 8)), dmin = half_to_float((uint16_t)(b[2] | b[3] << 8));
    for (int j = 0; j < 8; j++) {
        float dl = d * (float)ls[j], ml = dmin * (float)lm[j];
        if (dl) round_lanes(x + 32 * j, 32, ml, dl, 0, 0, nmax, 0, L + 32 * j);
        else /* a scale of 0: the search's quants stay (any would do) */
            fit_min_quants(&r[(g0 + j) / FIT_LANES], (g0 + j) % FIT_LANES, x + 32 * j, 32, nmax, L + 32 * j);
    }
    uint8_t *qh = b + 16, *qs = b + (bits == 4 ? 16 : 48);
    for (unsigned p = 0; p < 4; p++) /* weight k: nibble k/32 % 2 of byte 32 * (k/64) + k%32 */
        for (unsigned l = 0; l < 32; l++)
            qs[32 * p + l] = (uint8_t)((L[64 * p + l] & 0xF) | (L[64 * p + 32 + l] & 0xF) << 4);
    if (bits == 5) /* and its fifth bit: bit k/32 of byte k%32 */
        for (unsigned l = 0; l < 32; l++) {
            unsigned h = 0;
            for (unsigned i = 0; i < 8; i++) h |= (unsigned)(L[32 * i + l] >> 4 & 1) << i;
            qh[l] = (uint8_t)h;
        }
}

static void q6_k(const float *x, uint8_t *b, int fast)
{
    uint8_t L[256];
    fit_rounding r[16 / FIT_LANES + 1];
    float sc[16], amax;
    const fit_steps st = fast ? STEPS(fast_signed, 1) : STEPS(steps_signed, 0);
    for (int h = 0; h < 16; h += FIT_LANES) {
        vfl xt[16];
        load_groups(x + 16 * h, 16, xt);
        fit_scale_signed_lanes(16, 32, xt, &r[h / FIT_LANES], sc + h, &st);
    }
    const float max_scale = largest_scale(sc, &amax);
    memset(b, 0, 210);
    if (amax < EPS) return;
    float iscale = -128 / max_scale;
    put_f16(b, 208, 1 / iscale);
    float d = half_to_float((uint16_t)(b[208] | b[209] << 8));
    for (int j = 0; j < 16; j++) {
        int s = clampi(nearest(iscale * sc[j]), -128, 127);
        b[192 + j] = (uint8_t)(int8_t)s;
        float dl = d * (float)s;
        if (dl) round_lanes(x + 16 * j, 16, 0, dl, 0, -32, 31, 32, L + 16 * j);
        else fit_signed_quants(&r[j / FIT_LANES], j % FIT_LANES, x + 16 * j, 16, 32, L + 16 * j);
    }
    for (unsigned n = 0; n < 2; n++) /* the inverse of quant.c's deq_q6_k: weight k = 128n + 32j + l */
        for (unsigned l = 0; l < 32; l++) {
            const uint8_t *k = L + 128 * n + l; /* k[32 * j] */
            b[64 * n + l] = (uint8_t)((k[0] & 0xF) | (k[64] & 0xF) << 4);
            b[64 * n + 32 + l] = (uint8_t)((k[32] & 0xF) | (k[96] & 0xF) << 4);
            b[128 + 32 * n + l] = (uint8_t)(k[0] >> 4 | (k[32] >> 4) << 2 | (k[64] >> 4) << 4 | (k[96] >> 4) << 6);
        }
}

void QZ_QUANTIZE(const quant_type *t, int fast, const float *src, void *dst, uint64_t n_blocks)
{
    uint8_t *b = dst;
    const fit_steps iq4 = fast ? STEPS(fast_iq4, 1) : STEPS(steps_iq4, 0);
    if (t->id == QTYPE_IQ4_NL || t->id == QTYPE_IQ4_XS) iq4_tables_init();
    if (t->id == QTYPE_IQ4_NL) {
        iq4_nl_blocks(src, b, n_blocks, &iq4);
        return;
    }
    if (t->id == QTYPE_Q4_K || t->id == QTYPE_Q5_K || t->id == QTYPE_IQ4_XS) {
        for (uint64_t i = 0; i < n_blocks; i += KB) {
            int nb = n_blocks - i < KB ? (int)(n_blocks - i) : KB;
            const float *x = src + i * 256;
            uint8_t *o = b + i * t->block_bytes;
            if (t->id == QTYPE_IQ4_XS) iq4_xs(x, o, nb, &iq4);
            else qx_k(x, o, t->id == QTYPE_Q4_K ? 4 : 5, nb, fast);
        }
        return;
    }
    for (uint64_t i = 0; i < n_blocks; i++) {
        const float *x = src + i * t->block;
        uint8_t *o = b + i * t->block_bytes;
        switch (t->id) {
        case QTYPE_Q8_0: q8_0(x, o); break;
        case QTYPE_Q4_0: qx_0(x, o, 4); break;
        case QTYPE_Q5_0: qx_0(x, o, 5); break;
        case QTYPE_Q4_1: qx_1(x, o, 4); break;
        case QTYPE_Q5_1: qx_1(x, o, 5); break;
        case QTYPE_Q2_K: q2_k(x, o, fast); break;
        case QTYPE_Q3_K: q3_k(x, o, fast); break;
        case QTYPE_Q6_K: q6_k(x, o, fast); break;
        default: return;
        }
    }
}

/* fp16 -> fp32, exactly half_to_float (subnormals, infinities and NaN
 * payloads included), FIT_LANES values at a time without branches (with
 * F16C: 8 at a time by the instruction, whose conversion is exact except
 * that it quiets signalling NaNs: 8 that hold an Inf or NaN go the other
 * way). Returns 1 when no value is Inf or NaN. */
int QZ_F16(const void *src, float *dst, uint64_t n)
{
    typedef uint16_t vh __attribute__((vector_size(2 * FIT_LANES)));
    const uint8_t *p = src;
    uint64_t i = 0;
    vul top = (vul){ 0 }; /* the largest |h| of the vector loop, lane by lane */
    int finite = 1;
#ifdef __F16C__
    const __m128i exp_mask = _mm_set1_epi16(0x7c00);
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(p + 2 * i));
        if (_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(h, exp_mask), exp_mask))) break; /* an Inf or NaN */
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i + FIT_LANES <= n; i += FIT_LANES) {
        vh h16;
        memcpy(&h16, p + 2 * i, sizeof h16);
        vul h = __builtin_convertvector(h16, vul), man = h & 0x3ff, e = h & 0x7c00, sign = (h & 0x8000) << 16;
        vul a = h & 0x7fff;
        top = (vul)vsel((vil)(a > top), (vfl)a, (vfl)top);
        vul norm = sign | (((h & 0x7fff) << 13) + (112u << 23)), inf = sign | 0x7f800000u | man << 13;
        vul sub = sign | (vul)(__builtin_convertvector(man, vfl) * 0x1p-24f); /* man * 2^-24, exact */
        vul bits = (vul)vsel((vil)(e == 0x7c00), (vfl)inf, vsel((vil)(e != 0), (vfl)norm, (vfl)sub));
        memcpy(dst + i, &bits, sizeof bits);
    }
    for (int j = 0; j < FIT_LANES; j++) finite &= top[j] < 0x7c00u;
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = half_to_float(h);
        finite &= (h & 0x7c00) != 0x7c00;
    }
    return finite;
}
