/* quantize_blocks.h built with AVX-512 (16 groups per vector; no FMA, so the
 * same bytes as the portable build), for CPUs that have it: quant_quantize
 * and quant_f16_to_f32 (quantize.c) call it after checking. */
#define QZ_LANES 16
#define QZ_QUANTIZE quant_quantize_avx512
#define QZ_F16 quant_f16_to_f32_avx512
#include "model/quantize_blocks.h"
