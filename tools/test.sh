#!/usr/bin/env bash
# Sets everything up (tools/setup.sh), then runs the whole test suite:
#   1. every test in build/ (GPU kernels on the first Vulkan device — lavapipe
#      on a machine without a GPU — with the validation layer on; CPU tests);
#   2. the CPU-only tests again under ASan + UBSan (build-asan/), and the
#      end-to-end API tests (suite "api": forward pass, generation, the CLI
#      and the embedding example on lavapipe) with leak checking;
#   3. under ThreadSanitizer (build-tsan/): the threaded test (four sessions
#      of one model generating at once, two models loading at once) and the
#      CPU-only tests (the quantizer's row workers), less the two
#      single-threaded speed tests (sampler, tokenizer_speed), which TSan only
#      slows down. No suppressions are needed: lavapipe and the validation
#      layer are not instrumented, so TSan checks vkllm's own accesses.
# Ends with one line "N passed, N failed"; exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
VKLLM_SETUP_TESTS=1 VKLLM_MESON_OPTS="${VKLLM_MESON_OPTS:--Dwerror=true}" tools/setup.sh || exit 1

meson test -C build --print-errorlogs --num-processes 1
if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null || exit 1
fi
ninja -C build-asan >/dev/null || exit 1
# lavapipe stays loaded under LeakSanitizer: on some CPUs (seen on AMD EPYC,
# Zen 3) its LLVM keeps a 128-byte block from a pthread_once during
# vkEnumeratePhysicalDevices in its own globals, and the loader unmaps the
# driver at vkDestroyInstance, so LSan would count that block as vkllm's leak
# (a 10-line program that only creates an instance shows it too). Preloaded,
# the driver's globals stay mapped and the block reachable; vkllm's own leaks
# are still found. (verify_asan_link_order=0: the driver comes before the
# ASan runtime in the list, which is harmless: it defines no malloc.)
lvp=$(ls /usr/lib/*/libvulkan_lvp.so 2>/dev/null | head -n 1)
asan_env=()
[ -n "$lvp" ] && asan_env=(LD_PRELOAD="$lvp" ASAN_OPTIONS=verify_asan_link_order=0)
env "${asan_env[@]}" UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --suite cpu --suite api --print-errorlogs --num-processes 1

if [ ! -f build-tsan/build.ninja ]; then
    meson setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dwerror=true >/dev/null || exit 1
fi
ninja -C build-tsan >/dev/null || exit 1
mapfile -t tsan_tests < <(meson test -C build-tsan --list --suite cpu --suite threads 2>/dev/null | grep '^vkllm:' |
    sed 's|.* / ||' | grep -vx -e sampler -e tokenizer_speed)
# setarch -R: no address-space randomisation, which TSan's fixed shadow
# layout cannot always live with (high vm.mmap_rnd_bits on newer kernels)
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 setarch "$(uname -m)" -R \
    meson test -C build-tsan --print-errorlogs --num-processes 1 "${tsan_tests[@]}"

# 4. the library with clang too, at -Wall -Wextra -Werror (build-clang/: the
#    shared and static libvkllm only, no tests)
if [ ! -f build-clang/build.ninja ]; then
    CC=clang CXX=clang++ meson setup build-clang -Dwerror=true >/dev/null 2>&1 || echo "clang: meson setup failed"
fi
if meson compile -C build-clang vkllm:shared_library vkllm:static_library >build-clang/compile.log 2>&1; then
    clang_result=OK
else
    tail -30 build-clang/compile.log
    clang_result=FAIL
fi
echo "clang build of libvkllm: $clang_result"

CLANG_RESULT=$clang_result python3 - <<'PY'
import json, os, sys
passed = failed = 0
if os.environ.get("CLANG_RESULT") == "OK":
    passed += 1
else:
    failed += 1
    print("the clang build of libvkllm failed")
for log in ("build/meson-logs/testlog.json", "build-asan/meson-logs/testlog.json",
            "build-tsan/meson-logs/testlog.json"):
    try:
        lines = open(log).read().splitlines()
    except OSError:
        failed += 1
        print(f"missing {log}")
        continue
    for line in lines:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r != "SKIP":
            failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or passed == 0 else 0)
PY
