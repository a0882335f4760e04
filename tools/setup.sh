#!/usr/bin/env bash
# Installs what vkllm needs on Debian/Ubuntu (only what is missing) and
# builds it into build/. Extra meson options: VKLLM_MESON_OPTS="-Dwerror=true".
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(gcc pkg-config python3 meson ninja-build glslang-tools libvulkan-dev libvulkan1
      libvulkan-volk-dev mesa-vulkan-drivers vulkan-validationlayers libcjson-dev
      libmicrohttpd-dev
      # tests of `vkllm serve`: curl, the openai npm client, headless chromium, libFuzzer
      curl nodejs chromium clang libclang-rt-dev)
# npm comes with some nodejs builds (NodeSource) and is its own package in Debian's
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
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

if [ ! -f build/build.ninja ]; then
    # shellcheck disable=SC2086
    meson setup build ${VKLLM_MESON_OPTS:-} >/dev/null
fi
ninja -C build >/dev/null
echo "setup: built build/vkllm"
