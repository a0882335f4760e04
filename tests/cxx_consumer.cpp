// vkllm.h from C++: it must compile as C++ (extern "C", no C-only syntax)
// and link the C library. Built and run by tests/test_install.sh against the
// installed copy, and by meson against the tree.
#include <cstdio>
#include <cstring>

#include "vkllm.h"

int main()
{
    vkllm_sampling s = vkllm_sampling_greedy();
    if (s.temperature > 0) return 1;
    if (std::strcmp(vkllm_status_name(VKLLM_ERR_NO_VULKAN), "VKLLM_ERR_NO_VULKAN") != 0) return 1;
    const char *const *types = vkllm_quantize_types();
    size_t n = 0;
    while (types[n]) n++;
    if (n == 0 || !vkllm_chat_template_list(0)) return 1;
    std::printf("vkllm %s from C++: %zu quantization types, first template %s\n", VKLLM_VERSION_STRING, n,
                vkllm_chat_template_list(0));
    return 0;
}
