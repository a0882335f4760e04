/* The quantizer: fp32 weights into ggml's blocks (see quant.h for the
 * layouts). The algorithms are the formats' reference ones, so our files are
 * as good as llama-quantize's (no importance matrix):
 *   - blocks of 32: the scale from the extreme value (Q8_0, Q4_0, Q5_0) or
 *     from min and max (Q4_1, Q5_1);
 *   - K-quants: per sub-block a least-squares search over candidate scales
 *     (fit_scale_min_lanes for the types with a minimum,
 *     fit_scale_signed_lanes / fit_scale_signed_iter for the symmetric ones),
 *     then the sub-block scales themselves quantized against the block's
 *     largest, and every weight re-rounded with the scales as they will be
 *     read back;
 *   - IQ4: a search over scales for the non-uniform table.
 * One deliberate difference from llama.cpp: Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 round
 * the weights against the scale (and minimum) as stored in fp16, not the
 * unrounded fp32 one, since those are the values a reader multiplies by.
 * The packers are the inverse of quant.c's element formulas; test_quantize
 * checks the round trip and the error against llama-quantize's files. */
#include <math.h>
#include <string.h>

#include "model/quant.h"
#include "util/half.h"

#define EPS 1e-15f /* a group whose largest |x| is below this is all zeros */

static int nearest(float x) { return (int)lrintf(x); } /* to nearest, ties to even */
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
 * super-block: groups of n at x + n*j, weights at w + n*j, quants to L + n*j,
 * results in scale_out[j], neg_min[j]): each lane takes exactly the steps of
 * one group alone, every float operation the same, so the blocks are those
 * of one group at a time (llama.cpp's), but the lanes' sequential sums run
 * side by side instead of one chain of additions after another: 2-3x faster.
 * (The candidates themselves cannot run in parallel: an accepted one moves
 * the minimum the next ones start from.) */
#define FIT_LANES 4
typedef float vfl __attribute__((vector_size(4 * FIT_LANES)));
typedef int32_t vil __attribute__((vector_size(4 * FIT_LANES)));
static vfl vsel(vil m, vfl a, vfl b) { return (vfl)(((vil)a & m) | ((vil)b & ~m)); } /* m ? a : b, per lane */
static vfl vsplat(float f) { return (vfl){ 0 } + f; }
/* clampi(nearest(v), lo, hi) per lane, as a float: adding and subtracting
 * 1.5 * 2^23 rounds to the nearest integer, ties to even, exactly as lrintf
 * for |v| < 2^22 (beyond, both clamp to the same level); NaN and values past
 * int's range give lo (lrintf's INT_MIN there, clamped) */
static vfl vlevel(vfl v, vfl lo, vfl hi)
{
    vfl r = (v + 12582912.0f) - 12582912.0f;
    r = vsel(r < lo, lo, r);
    r = vsel(r > hi, hi, r);
    vfl a = (vfl)((vil)v & 0x7fffffff);
    return vsel(a < 2147483648.0f, r, lo);
}

static void fit_scale_min_lanes(int n, int nmax, const float *x, const float *w, uint8_t *L, float *scale_out,
                                float *neg_min, float rmin, float rdelta, int nstep, int mad)
{
    enum { J = FIT_LANES };
    vfl xt[32], wt[32], lt[32], at[32]; /* [i], lane j: x, w, best quants, candidate quants of group j */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < J; j++) xt[i][j] = x[n * j + i], wt[i][j] = w[n * j + i];
    const vfl fmax = vsplat((float)nmax), zero = vsplat(0), one = vsplat(1);
    vfl mn = xt[0], mx = xt[0], sum_w = wt[0], sum_x = wt[0] * xt[0];
    for (int i = 1; i < n; i++) {
        mn = vsel(xt[i] < mn, xt[i], mn);
        mx = vsel(xt[i] > mx, xt[i], mx);
        sum_w += wt[i];
        sum_x += wt[i] * xt[i];
    }
    mn = vsel(mn > 0.0f, zero, mn);
    const vil live = mx != mn;
    vfl iscale = vsel(live, fmax / vsel(live, mx - mn, one), zero);
    vfl scale = vsel(live, one / vsel(live, iscale, one), zero), best = zero;
    for (int i = 0; i < n; i++) {
        vfl l = vlevel(iscale * (xt[i] - mn), zero, fmax);
        lt[i] = l;
        vfl diff = scale * l + mn - xt[i];
        best += wt[i] * (mad ? (vfl)((vil)diff & 0x7fffffff) : diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        vfl sum_l = zero, sum_l2 = zero, sum_xl = zero, err = zero;
        iscale = vsel(live, (rmin + rdelta * (float)is + (float)nmax) / vsel(live, mx - mn, one), zero);
        for (int i = 0; i < n; i++) {
            vfl l = vlevel(iscale * (xt[i] - mn), zero, fmax);
            at[i] = l;
            sum_l += wt[i] * l;
            sum_l2 += wt[i] * (l * l);
            sum_xl += wt[i] * l * xt[i];
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
        for (int i = 0; i < n; i++) {
            vfl diff = s * at[i] + m - xt[i];
            err += wt[i] * (mad ? (vfl)((vil)diff & 0x7fffffff) : diff * diff);
        }
        vil better = ok & (err < best);
        for (int i = 0; i < n; i++) lt[i] = vsel(better, at[i], lt[i]);
        best = vsel(better, err, best);
        scale = vsel(better, s, scale);
        mn = vsel(better, m, mn);
    }
    for (int j = 0; j < J; j++) {
        for (int i = 0; i < n; i++) L[n * j + i] = (uint8_t)(live[j] ? lt[i][j] : 0);
        neg_min[j] = -mn[j];
        scale_out[j] = live[j] ? scale[j] : 0;
    }
}

/* Symmetric quants L[i] - nmax in -nmax..nmax-1 with x ~ scale*(L - nmax),
 * weighted by x^2: the scale that maps the extreme value to -nmax, then
 * 18 nearby ones, keeping the rounding with the best least-squares fit.
 * FIT_LANES groups at once, one per lane, as fit_scale_min_lanes (groups of
 * n at x + n*j, quants to L + n*j, scales to scale_out[j]). */
static void fit_scale_signed_lanes(int n, int nmax, const float *x, uint8_t *L, float *scale_out)
{
    enum { J = FIT_LANES };
    vfl xt[32], lt[32], at[32]; /* [i], lane j: x, best quants, candidate quants (signed) of group j */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < J; j++) xt[i][j] = x[n * j + i];
    const vfl zero = vsplat(0), one = vsplat(1), lo = vsplat((float)-nmax), hi = vsplat((float)(nmax - 1));
    vfl m = zero, amax = zero; /* extreme(): the element of the largest magnitude, the first of equals */
    for (int i = 0; i < n; i++) {
        vfl a = (vfl)((vil)xt[i] & 0x7fffffff);
        vil gt = a > amax;
        amax = vsel(gt, a, amax);
        m = vsel(gt, xt[i], m);
    }
    const vil live = ~(amax < EPS);
    vfl best = zero, scale = zero;
    for (int i = 0; i < n; i++) lt[i] = zero;
    for (int is = 0; is <= 18; is++) {
        int step = is == 0 ? 0 : is <= 9 ? is - 10 : is - 9; /* 0 first, then -9..-1, 1..9 */
        vfl iscale = vsel(live, -((float)nmax + 0.1f * (float)step) / vsel(live, m, one), zero);
        vfl sumlx = zero, suml2 = zero;
        for (int i = 0; i < n; i++) {
            vfl l = vlevel(iscale * xt[i], lo, hi), w = xt[i] * xt[i];
            at[i] = l;
            sumlx += w * xt[i] * l;
            suml2 += w * (l * l);
        }
        vil has = suml2 > 0.0f;
        vil take = step == 0 ? ~(vil){ 0 } : has & (sumlx * sumlx > best * suml2);
        vfl sc = vsel(has, sumlx / vsel(has, suml2, one), zero);
        for (int i = 0; i < n; i++) lt[i] = vsel(take, at[i], lt[i]);
        scale = vsel(take, sc, scale);
        best = vsel(take, sc * sumlx, best);
    }
    for (int j = 0; j < J; j++) {
        for (int i = 0; i < n; i++) L[n * j + i] = (uint8_t)(live[j] ? (int)lt[i][j] + nmax : 0);
        scale_out[j] = live[j] ? scale[j] : 0;
    }
}

/* As fit_scale_signed_lanes for one group, but improving the rounding one
 * weight at a time (up to five sweeps): each quant moves to the value the least-squares fit of the
 * others asks for, when that lowers the error. */
static float fit_scale_signed_iter(int n, int nmax, const float *x, uint8_t *L)
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
    for (int sweep = 0; sweep < 5; sweep++) {
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

/* ---------------------------------------------------------------- blocks of 32 */

static void q8_0(const float *x, uint8_t *b)
{
    float amax;
    extreme(x, 32, &amax);
    float d = f16_round(amax / 127), id = d ? 1 / d : 0;
    put_f16(b, 0, d);
    for (int e = 0; e < 32; e++) b[2 + e] = (uint8_t)(int8_t)clampi(nearest(x[e] * id), -127, 127);
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

/* index of the table value nearest to v */
static int iq4_nearest(float v)
{
    if (v <= iq4_table[0]) return 0;
    if (v >= iq4_table[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < iq4_table[mid]) hi = mid;
        else lo = mid;
    }
    return v - iq4_table[lo] < iq4_table[hi] - v ? lo : hi;
}

/* The best scale of a 32-weight group for the table (weighted by x^2): the
 * extreme value on the table's end, then 14 neighbouring scales. */
static float iq4_fit(const float *x)
{
    float amax, m = extreme(x, 32, &amax);
    if (amax < EPS) return 0;
    float best = 0, d = 0;
    for (int t = -8; t <= 7; t++) { /* -8: d = -m / table[0]; then 15 scales around it */
        float id = t == -8 ? -(float)iq4_table[0] / m : ((float)t + (float)iq4_table[0]) / m;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            float q = iq4_table[iq4_nearest(id * x[j])], w = x[j] * x[j];
            sumqx += w * q * x[j];
            sumq2 += w * q * q;
        }
        if (t == -8 || (sumq2 > 0 && sumqx * sumqx > best * sumq2)) {
            d = sumq2 > 0 ? sumqx / sumq2 : 0;
            best = d * sumqx;
        }
    }
    return d;
}

static void iq4_nl(const float *x, uint8_t *b)
{
    float d = f16_round(iq4_fit(x)), id = d ? 1 / d : 0;
    put_f16(b, 0, d);
    for (unsigned e = 0; e < 32; e++) put_nibble32(b + 2, e, iq4_nearest(id * x[e]));
}

static void iq4_xs(const float *x, uint8_t *b)
{
    float sc[8], amax = 0, max_scale = 0;
    for (int i = 0; i < 8; i++) {
        sc[i] = iq4_fit(x + 32 * i);
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
        float dl = f16_round(d) * (float)l, idl = dl ? 1 / dl : 0;
        for (unsigned e = 0; e < 32; e++) put_nibble32(b + 8 + 16 * i, e, iq4_nearest(idl * x[32 * i + e]));
        l += 32;
        b[4 + i / 2] |= (uint8_t)((l & 0xF) << (4 * (i % 2)));
        sh |= (unsigned)(l >> 4) << (2 * i);
    }
    b[2] = (uint8_t)sh;
    b[3] = (uint8_t)(sh >> 8);
}

/* ---------------------------------------------------------------- K-quants */

/* 2-bit quants of Q2_K/Q3_K: weight k in bits 2j of byte 32n + l (n = k/128,
 * j = (k%128)/32, l = k%32) */
static void put_2bit(uint8_t *qs, const uint8_t *L)
{
    memset(qs, 0, 64);
    for (unsigned k = 0; k < 256; k++) qs[32 * (k / 128) + k % 32] |= (uint8_t)((L[k] & 3) << (2 * (k % 128 / 32)));
}

static void q2_k(const float *x, uint8_t *b)
{
    uint8_t L[256];
    float sc[16], mins[16], max_scale = 0, max_min = 0, w[256];
    for (int k = 0; k < 256; k++) w[k] = fabsf(x[k]);
    for (int h = 0; h < 16; h += FIT_LANES)
        fit_scale_min_lanes(16, 3, x + 16 * h, w + 16 * h, L + 16 * h, sc + h, mins + h, -0.5f, 0.1f, 15, 1);
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
        if (!dl) continue;
        for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)clampi(nearest((x[16 * j + l] + ml) / dl), 0, 3);
    }
    put_2bit(b + 16, L);
}

static void q3_k(const float *x, uint8_t *b)
{
    uint8_t L[256];
    float sc[16], amax = 0, max_scale = 0;
    for (int j = 0; j < 16; j++) {
        sc[j] = fit_scale_signed_iter(16, 4, x + 16 * j, L + 16 * j);
        if (fabsf(sc[j]) > amax) {
            amax = fabsf(sc[j]);
            max_scale = sc[j];
        }
    }
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
        for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)(clampi(nearest(x[16 * j + l] / dl), -4, 3) + 4);
    }
    for (unsigned k = 0; k < 256; k++) /* high bit: set when the quant is >= 0 (L >= 4) */
        if (L[k] > 3) {
            b[k % 32] |= (uint8_t)(1u << (k / 32));
            L[k] -= 4;
        }
    put_2bit(b + 32, L);
}

/* Q4_K / Q5_K: eight sub-blocks of 32 with 6-bit scales and mins */
static void qx_k(const float *x, uint8_t *b, int bits)
{
    int nmax = (1 << bits) - 1;
    uint8_t L[256];
    float sc[8], mins[8], max_scale = 0, max_min = 0, w[256];
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xj[l] * xj[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[32 * j + l] = av_x + fabsf(xj[l]);
    }
    for (int h = 0; h < 8; h += FIT_LANES) {
        const int o = 32 * h;
        if (bits == 4) fit_scale_min_lanes(32, nmax, x + o, w + o, L + o, sc + h, mins + h, -1.0f, 0.1f, 20, 0);
        else fit_scale_min_lanes(32, nmax, x + o, w + o, L + o, sc + h, mins + h, -0.5f, 0.1f, 15, 0);
    }
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
        if (!dl) continue;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clampi(nearest((x[32 * j + l] + ml) / dl), 0, nmax);
    }
    uint8_t *qh = b + 16, *qs = b + (bits == 4 ? 16 : 48);
    for (unsigned k = 0; k < 256; k++) {
        unsigned i = k / 32, l = k % 32;
        qs[32 * (i / 2) + l] |= (uint8_t)((L[k] & 0xF) << (i % 2 ? 4 : 0));
        if (bits == 5) qh[l] |= (uint8_t)((L[k] >> 4 & 1) << i);
    }
}

static void q6_k(const float *x, uint8_t *b)
{
    uint8_t L[256];
    float sc[16], amax = 0, max_scale = 0;
    for (int h = 0; h < 16; h += FIT_LANES) fit_scale_signed_lanes(16, 32, x + 16 * h, L + 16 * h, sc + h);
    for (int j = 0; j < 16; j++) {
        if (fabsf(sc[j]) > amax) {
            amax = fabsf(sc[j]);
            max_scale = sc[j];
        }
    }
    memset(b, 0, 210);
    if (amax < EPS) return;
    float iscale = -128 / max_scale;
    put_f16(b, 208, 1 / iscale);
    float d = half_to_float((uint16_t)(b[208] | b[209] << 8));
    for (int j = 0; j < 16; j++) {
        int s = clampi(nearest(iscale * sc[j]), -128, 127);
        b[192 + j] = (uint8_t)(int8_t)s;
        float dl = d * (float)s;
        if (!dl) continue;
        for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)(clampi(nearest(x[16 * j + l] / dl), -32, 31) + 32);
    }
    for (unsigned k = 0; k < 256; k++) { /* the inverse of quant.c's deq_q6_k */
        unsigned n = k / 128, j = k % 128 / 32, l = k % 32;
        b[64 * n + l + 32 * (j % 2)] |= (uint8_t)((L[k] & 0xF) << (j < 2 ? 0 : 4));
        b[128 + 32 * n + l] |= (uint8_t)((L[k] >> 4) << (2 * j));
    }
}

void quant_quantize(const quant_type *t, const float *src, void *dst, uint64_t n_blocks)
{
    uint8_t *b = dst;
    for (uint64_t i = 0; i < n_blocks; i++) {
        const float *x = src + i * t->block;
        uint8_t *o = b + i * t->block_bytes;
        switch (t->id) {
        case QTYPE_Q8_0: q8_0(x, o); break;
        case QTYPE_Q4_0: qx_0(x, o, 4); break;
        case QTYPE_Q5_0: qx_0(x, o, 5); break;
        case QTYPE_Q4_1: qx_1(x, o, 4); break;
        case QTYPE_Q5_1: qx_1(x, o, 5); break;
        case QTYPE_Q2_K: q2_k(x, o); break;
        case QTYPE_Q3_K: q3_k(x, o); break;
        case QTYPE_Q4_K: qx_k(x, o, 4); break;
        case QTYPE_Q5_K: qx_k(x, o, 5); break;
        case QTYPE_Q6_K: q6_k(x, o); break;
        case QTYPE_IQ4_NL: iq4_nl(x, o); break;
        case QTYPE_IQ4_XS: iq4_xs(x, o); break;
        default: return;
        }
    }
}
