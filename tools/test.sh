#!/usr/bin/env bash
# Sets everything up (tools/setup.sh), then runs the whole test suite:
#   1. every test in build/ (GPU kernels on the first Vulkan device — lavapipe
#      on a machine without a GPU — with the validation layer on; CPU tests);
#   2. the CPU-only tests again under ASan + UBSan (build-asan/), and the
#      end-to-end API tests (suite "api": forward pass, generation, the CLI
#      and the embedding example on lavapipe) with leak checking.
# Ends with one line "N passed, N failed"; exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
VKLLM_SETUP_TESTS=1 VKLLM_MESON_OPTS="${VKLLM_MESON_OPTS:--Dwerror=true}" tools/setup.sh || exit 1

meson test -C build --print-errorlogs --num-processes 1
if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null || exit 1
fi
ninja -C build-asan >/dev/null || exit 1
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C build-asan --suite cpu --suite api --print-errorlogs --num-processes 1

python3 - <<'PY'
import json, sys
passed = failed = 0
for log in ("build/meson-logs/testlog.json", "build-asan/meson-logs/testlog.json"):
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
