#!/usr/bin/env bash
# Installs what vkllm needs on Debian/Ubuntu (only what is missing) and
# builds it into build/. Extra meson options: VKLLM_MESON_OPTS="-Dwerror=true".
# VKLLM_SETUP_TESTS=1 (tools/test.sh sets it) adds what only the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(gcc pkg-config python3 meson ninja-build glslang-tools libvulkan-dev libvulkan1
      libvulkan-volk-dev mesa-vulkan-drivers vulkan-validationlayers libcjson-dev libedit-dev
      libmicrohttpd-dev)
if [ "${VKLLM_SETUP_TESTS:-0}" = 1 ]; then # tools/test.sh: what only the tests use
    # `vkllm serve`'s tests: curl, the openai npm client, headless chromium, libFuzzer (clang)
    pkgs+=(curl nodejs chromium clang libclang-rt-dev)
    # the C++ consumer of vkllm.h (tests/cxx_consumer.cpp)
    pkgs+=(g++)
    # npm comes with some nodejs builds (NodeSource) and is its own package in Debian's
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test-only and optional: llama.cpp for tests/test_llama_cpp.sh (skipped without it), where Node >= 20 is there.
if [ "${VKLLM_SETUP_TESTS:-0}" = 1 ] && [ ! -d tests/llama_cpp/node_modules ] &&
    node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null; then
    (cd tests/llama_cpp && npm ci --omit=optional --no-audit --no-fund >/dev/null 2>&1) ||
        echo "setup: npm ci in tests/llama_cpp failed; the llama.cpp check will be skipped"
fi

if [ ! -f build/build.ninja ]; then
    # shellcheck disable=SC2086
    meson setup build ${VKLLM_MESON_OPTS:-} >/dev/null
fi
ninja -C build >/dev/null
echo "setup: built build/vkllm"
