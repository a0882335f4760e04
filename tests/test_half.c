/* fp16 <-> fp32 conversion: every one of the 65536 halves round-trips, and
 * floats round to nearest even. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/half.h"

int main(void)
{
    int fail = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = half_to_float((uint16_t)h);
        uint16_t back = float_to_half(f);
        int is_nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff);
        if (is_nan ? !isnan(f) || ((back >> 10) & 0x1f) != 0x1f || !(back & 0x3ff) : back != h) {
            if (fail++ < 5) printf("FAIL half 0x%04x -> %g -> 0x%04x\n", h, f, back);
        }
    }
    /* known values */
    struct { float f; uint16_t h; } cases[] = {
        { 1.0f, 0x3c00 }, { -2.0f, 0xc000 }, { 65504.0f, 0x7bff }, { 65520.0f, 0x7c00 }, /* rounds up to inf */
        { 5.9604645e-8f, 0x0001 }, { 2.9802322e-8f, 0x0000 },                             /* tie -> even (0) */
        { 8.940697e-8f, 0x0002 },                                                          /* 1.5 ulp tie -> 2 */
        { 1.0009765625f, 0x3c01 }, { 1.00048828125f, 0x3c00 },                           /* tie -> even */
        { 1.00146484375f, 0x3c02 },                                                        /* tie -> even (up) */
        { 6.1035156e-5f, 0x0400 }, { 1e-10f, 0x0000 }, { INFINITY, 0x7c00 }, { -0.0f, 0x8000 },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = float_to_half(cases[i].f);
        if (got != cases[i].h) {
            printf("FAIL float_to_half(%.10g) = 0x%04x, want 0x%04x\n", cases[i].f, got, cases[i].h);
            fail++;
        }
    }
    printf("%s\n", fail ? "FAILED" : "PASSED");
    return fail != 0;
}
