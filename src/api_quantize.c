/* The public API's quantizer (include/vkllm.h): argument checks over
 * src/model/quantize_model.c. No Vulkan. */
#include "model/quantize_model.h"
#include "util/errf.h"
#include "vkllm.h"

vkllm_status vkllm_quantize(const char *in, const char *out, const vkllm_quantize_options *opt,
                            vkllm_quantize_stats *stats, char *err, size_t err_len)
{
    if (stats) *stats = (vkllm_quantize_stats){ 0 };
    if (!opt || !opt->type || !*opt->type)
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "vkllm_quantize: no type given (e.g. q4_k_m)");
    if (!in || !*in) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "vkllm_quantize: no input model given");
    if (!opt->dry_run && (!out || !*out))
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "vkllm_quantize: no output path given");
    return quantize_model(in, opt->dry_run && !out ? "" : out, opt, stats, err, err_len);
}
