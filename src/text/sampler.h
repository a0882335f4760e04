/* The token sampler: picks the next token from one row of fp32 logits.
 * No Vulkan; plain CPU work, a few hundred microseconds at most for a 32000
 * vocabulary.
 *
 * Pipeline for one sample (llama.cpp's default order):
 *   1. repetition penalty over the last repeat_last_n accepted tokens: each
 *      distinct token in the window once, logit > 0 divided by the penalty,
 *      logit <= 0 multiplied (llama.cpp semantics);
 *   2. greedy if temperature <= 0: the largest logit, the lowest index on
 *      ties — top-k/top-p/min-p do not change the argmax and are skipped;
 *   3. top-k: the k largest logits (ties broken towards the lower index);
 *   4. top-p: of those, sorted by logit, the shortest head whose softmax
 *      probability (at temperature 1) sums to >= top_p;
 *   5. min-p: of those, the tokens whose probability is >= min_p times the
 *      largest probability;
 *   6. temperature: the kept tokens are drawn with probability
 *      proportional to exp(logit / temperature).
 * Truncation (3-5) uses the untempered distribution, so temperature only
 * reshapes the kept set. At least one token is always kept.
 *
 * Non-finite logits: NaN is never sampled; -inf has probability 0; if any
 * logit is +inf, the +inf tokens are the only candidates and equally likely
 * (greedy: the first). When no logit is a number above -inf, sampler_sample
 * returns -1.
 *
 * Randomness: the sampler's own xoshiro256** generator, seeded from `seed`
 * through splitmix64. Same seed, same parameters, same logits and same
 * accepted tokens give the same tokens on every machine with IEEE floats.
 */
#ifndef VKLLM_TEXT_SAMPLER_H
#define VKLLM_TEXT_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sampler_params {
    float temperature;      /* default 0.8; <= 0: greedy */
    int32_t top_k;          /* default 40; <= 0 or >= n_vocab: off */
    float top_p;            /* default 0.95; in (0, 1], 1: off */
    float min_p;            /* default 0.05; in [0, 1], 0: off */
    float repeat_penalty;   /* default 1.1; > 0, 1: off */
    int32_t repeat_last_n;  /* default 64; tokens in the penalty window, 0: off */
    uint64_t seed;          /* default SAMPLER_DEFAULT_SEED (fixed: runs are
                               reproducible unless the caller picks a seed) */
} sampler_params;

#define SAMPLER_DEFAULT_SEED 0x5eed5eed5eedull
#define SAMPLER_MAX_REPEAT_LAST_N 65536

/* The defaults listed above. */
sampler_params sampler_params_default(void);

/* temperature 0 (argmax), no penalty, no truncation. */
sampler_params sampler_params_greedy(void);

typedef struct sampler sampler;

/* A sampler for logits of n_vocab entries; copies *params. Returns NULL when
 * out of memory or a parameter is out of range (n_vocab 0, a NaN, top_p not
 * in (0, 1], min_p not in [0, 1], repeat_penalty <= 0, repeat_last_n < 0 or
 * > SAMPLER_MAX_REPEAT_LAST_N). Free with sampler_free. */
sampler *sampler_create(const sampler_params *params, uint32_t n_vocab);

/* Frees; accepts NULL. */
void sampler_free(sampler *s);

/* The next token for logits[0..n_vocab) (read only; the sampler works on its
 * own scratch copy), or -1 if every logit is NaN or -inf. Advances the
 * generator; does not add the token to the penalty window (sampler_accept). */
int32_t sampler_sample(sampler *s, const float *logits);

/* Appends a token to the repetition-penalty window; feed the prompt tokens
 * too. Returns false (and ignores it) if token is not in [0, n_vocab). */
bool sampler_accept(sampler *s, int32_t token);

/* Empties the penalty window and restarts the generator from the seed. */
void sampler_reset(sampler *s);

#endif
