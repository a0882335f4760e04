#!/usr/bin/env bash
# No Vulkan function pointer is global mutable state (src/gpu/gpu_internal.h):
# the GPU layer's objects may reference only volk's loader-level globals,
# which volkInitialize sets once under pthread_once. Any other vk* global
# (instance or device level) would be one that a second model's instance or
# device rewrites while another thread calls through it.
# argv: libvkllm_gpu.a
set -uo pipefail
allowed='^(vkGetInstanceProcAddr|vkCreateInstance|vkEnumerateInstanceExtensionProperties|vkEnumerateInstanceLayerProperties|vkEnumerateInstanceVersion)$'
used=$(nm "$1" | awk '$1 == "U" && $2 ~ /^vk/ {print $2}' | sort -u)
[ -n "$used" ] || { echo "FAIL no vk* reference found in $1 (wrong file?)"; exit 1; }
bad=$(printf '%s\n' "$used" | grep -Ev "$allowed")
if [ -n "$bad" ]; then
    echo "FAIL src/gpu calls through volk's global pointers (use ctx->vki / ctx->vk):"
    printf '  %s\n' $bad
    exit 1
fi
echo "ok   src/gpu references only the loader-level globals: $(echo $used)"
