#!/usr/bin/env bash
# The GPU check a session with the lent NVIDIA machine runs, as one script:
# the kernel self-check, the benchmarks the performance issue asks for, then
# every test binary on the GPU. Output goes to $OUT (or ./device-out): at most
# 7 files (the device tool returns 8): summary.txt, the main results as
# they are, and steps.tar.gz with every step's output.
#
# Prepare here (the GPU machine has no meson, glslang or Vulkan loader):
#   bash tools/setup.sh
#   echo /.gl/ >>.git/info/exclude; mkdir -p .gl /tmp/amd64/partial
#   o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   apt-get $o update; (cd .gl && apt-get $o download libvulkan1 vulkan-validationlayers libcjson1)
#   rm -rf build/tests/scratch-*   # test scratch files: the carry limit is 64 MiB
# then run it there with carry [".gl", "build"]:
#   bash tools/device_check.sh
# Budget: about 8 minutes on an H100 (the SOLAR-shaped model is made on the
# device in seconds; no file is read).
set -u
cd "$(dirname "$0")/.."
out="${OUT:-device-out}"
logs=$(mktemp -d) # every step's output; $out gets at most 7 files (the device tool returns 8)
mkdir -p "$out"
for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
ldconfig 2>/dev/null
nv=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nv" ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1; then
    export VK_DRIVER_FILES="$nv"
fi
export VKLLM_DEVICE="${VKLLM_DEVICE:-NVIDIA}"
v=build/vkllm

step() { # step NAME SECONDS command...: runs with a time limit, keeps the output
    local name="$1" limit="$2"
    shift 2
    echo "== $name" | tee -a "$out/summary.txt"
    timeout "$limit" "$@" >"$logs/$name.txt" 2>&1
    echo "   exit $?" | tee -a "$out/summary.txt"
    tail -n 3 "$logs/$name.txt" | sed 's/^/   /' | tee -a "$out/summary.txt"
    case "$name" in # the results wanted first come back as they are; all of them in steps.tar.gz,
    selftest | bench_solar | bench_solar_q4km | profile_solar | bench_solar_parallel) cp "$logs/$name.txt" "$out/" ;;
    esac
    tar -czf "$out/steps.tar.gz" -C "$logs" . # rewritten after each step, so a timeout keeps what ran
}

# most important first, in case the time runs out
step devices 30 $v devices
step selftest 120 $v selftest --full --validate
step bench_solar 240 $v bench --synthetic solar-10.7b -p 512 -n 128 -r 3
# quantized weights (the 8-16 GB GPUs' case) and batched decode (the server's)
step bench_solar_q4km 240 $v bench --synthetic solar-10.7b --type q4_k_m -p 512 -n 128 -r 3 --parallel 1,8
step profile_solar 120 $v bench --synthetic solar-10.7b -p 512 -n 2 -r 1 --profile
step profile_solar_q4km 120 $v bench --synthetic solar-10.7b --type q4_k_m -p 512 -n 2 -r 1 --profile
step bench_solar_parallel 240 $v bench --synthetic solar-10.7b -p 1 -n 64 -r 2 --parallel 1,2,4,8
# the quantized prefill: weight tiles decoded in shared memory vs the fp16 scratch (untimed choice on GPUs)
VKLLM_QUANT_PREFILL=dequant step bench_q4km_dequant 180 $v bench --synthetic solar-10.7b --type q4_k_m -p 512 -n 1 -r 3
step bandwidth 60 $v bench --bandwidth -r 5
VKLLM_TUNE=0 step bench_solar_untuned 240 $v bench --synthetic solar-10.7b -p 512 -n 128 -r 3
step bench_solar_json 240 $v bench --synthetic solar-10.7b -p 512 -n 128 -d 0,4096 -r 3 --json
for t in build/tests/test_*; do
    case "$t" in *.p) continue ;; esac
    [ -x "$t" ] || continue
    name=$(basename "$t")
    case "$name" in
    test_llama | test_generate | test_model_* | test_ref_llama | test_tokenizer* | test_chat_template | test_sampler | test_half) continue ;;
    esac
    VKLLM_VALIDATE=1 step "$name" 120 "$t"
done
VKLLM_VALIDATE=1 step test_llama 120 build/tests/test_llama /tmp/vkllm-scratch-llama
rm -rf /tmp/vkllm-scratch-llama "$logs"
