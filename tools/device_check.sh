#!/usr/bin/env bash
# The GPU check a session with the lent NVIDIA machine runs, as one script:
# the kernel self-check, the benchmarks the performance issue asks for,
# quantize on load's times, then every test binary on the GPU. Output goes
# to $OUT (or ./device-out): at most 7 files (the device tool returns 8):
# summary.txt, the main results as they are, and steps.tar.gz with every
# step's output.
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
# device in seconds; no file is read), plus at most 90 s for quant_load (it
# writes a 1.3 GB F16 model and its two quantized files into /tmp).
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
# quantize on load (issue 13): a ~1.3 GB F16 GGUF made here, loaded with --quant on the device (the
# GPUs' default: shaders/quantize.comp, two 16 MiB pieces in flight; and with VKLLM_QUANTIZE_PIECES=1,
# one at a time as before) and by the CPU's threads, against loading the file `vkllm quantize` writes
# and the F16 source as it is. VKLLM_TUNE=0: "loaded in" is the upload alone. Its output goes into
# summary.txt whole (the 7 files are taken).
quant_load() { # (bash only: the GPU machine has no bc or /usr/bin/time)
    local d=/tmp/vkllm-quant-load q TIMEFORMAT
    rm -rf "$d" && mkdir -p "$d" || return 1
    lt() { # lt LABEL [ENV=..] ARGS...: one load's "loaded in" and the run's wall time
        local label="$1" t0 r
        shift
        t0=$(date +%s%N)
        r=$(env VKLLM_TUNE=0 "$@" -p 1 -n 1 -r 1 2>&1 | grep -o "loaded in [0-9.]* s" || echo "failed")
        printf '%-38s %-18s (whole run %d ms)\n' "$label" "$r" $((($(date +%s%N) - t0) / 1000000))
    }
    TIMEFORMAT="gen-model: %R s"
    time build/vkllm-gen-model --layers 12 --embd 2048 --ff 5632 --heads 16 --kv-heads 4 --vocab 32000 \
        --ctx 2048 --gguf "$d/f16.gguf" >/dev/null || return 1
    lt "f16 source as it is" $v bench -m "$d/f16.gguf"
    for q in q4_k_m q8_0; do
        TIMEFORMAT="vkllm quantize --type $q: %R s, %U s user CPU"
        time $v quantize -m "$d/f16.gguf" -o "$d/$q.gguf" --type $q >/dev/null || return 1
        lt "$q file" $v bench -m "$d/$q.gguf"
        lt "--quant $q, device (GPUs' default)" VKLLM_QUANTIZE_ON=device $v bench -m "$d/f16.gguf" --quant $q
        lt "--quant $q, device, pieces serial" VKLLM_QUANTIZE_ON=device VKLLM_QUANTIZE_PIECES=1 \
            $v bench -m "$d/f16.gguf" --quant $q
        lt "--quant $q, VKLLM_QUANTIZE_ON=cpu" VKLLM_QUANTIZE_ON=cpu $v bench -m "$d/f16.gguf" --quant $q
        lt "--quant $q, device, again" VKLLM_QUANTIZE_ON=device $v bench -m "$d/f16.gguf" --quant $q
    done
    rm -rf "$d"
}
step quant_load 90 bash -c "v=$v; $(declare -f quant_load); quant_load"
sed 's/^/   /' "$logs/quant_load.txt" >>"$out/summary.txt"
rm -rf /tmp/vkllm-quant-load # (left behind if the step ran out of time)
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
