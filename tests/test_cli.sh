#!/usr/bin/env bash
# The vkllm CLI: commands work, bad input gets one clear line and a non-zero exit.
# usage: test_cli.sh path/to/vkllm
set -u
vkllm="$1"
fails=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

expect() { # expect NAME WANT_RC GREP_PATTERN -- command...
    local name="$1" want="$2" pat="$3"
    shift 4
    "$@" >"$out" 2>&1
    local rc=$?
    if { [ "$want" = nonzero ] && [ $rc -eq 0 ]; } || { [ "$want" != nonzero ] && [ $rc -ne "$want" ]; }; then
        echo "FAIL $name: exit $rc, want $want"; sed 's/^/  | /' "$out"; fails=$((fails + 1)); return
    fi
    if ! grep -qE -- "$pat" "$out"; then
        echo "FAIL $name: output lacks /$pat/"; sed 's/^/  | /' "$out"; fails=$((fails + 1)); return
    fi
    echo "ok   $name"
}

expect "help" 0 "usage: vkllm COMMAND" -- "$vkllm" help
expect "no command" 2 "usage: vkllm COMMAND" -- "$vkllm"
expect "unknown command" 2 "unknown command 'frobnicate'" -- "$vkllm" frobnicate
expect "devices" 0 "^device 0: " -- "$vkllm" devices
expect "devices bad option" 2 "unknown option --bogus" -- "$vkllm" devices --bogus
expect "devices --json parses" 0 "^ok$" -- sh -c "'$vkllm' devices --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d and \"max_storage_buffer_range\" in d[0]; print(\"ok\")'"
expect "no driver" 1 "no Vulkan driver found" -- env VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json "$vkllm" devices
expect "selftest no driver" 1 "no Vulkan driver found" -- env VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json "$vkllm" selftest
expect "selftest unknown device" 1 'no Vulkan device matches "no-such-gpu"' -- "$vkllm" selftest --device no-such-gpu
expect "selftest device index out of range" 1 'no Vulkan device matches "99"' -- "$vkllm" selftest --device 99
expect "selftest missing value" 2 "incomplete option --device" -- "$vkllm" selftest --device
expect "selftest" 0 "all kernels passed" -- "$vkllm" selftest --validate --device 0

echo "$([ $fails -eq 0 ] && echo PASSED || echo FAILED) ($fails failures)"
[ $fails -eq 0 ]
