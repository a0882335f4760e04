# The checks the CLI test scripts share; sourced, with $out naming the file
# that holds the last command's output. fails counts the failures.
#   expect NAME WANT_RC PATTERN -- COMMAND...   runs COMMAND (stdout and stderr
#       into $out); passes when it exits WANT_RC (a number, or "nonzero"),
#       its output matches the extended regex PATTERN (unless empty) and,
#       when the script set $forbidden, does not match that one
#   check NAME COMMAND...                       passes when COMMAND succeeds
#   fail MESSAGE                                counts a failure, shows $out
fails=0
forbidden=${forbidden:-}

fail() {
    echo "FAIL $1"
    [ -f "$out" ] && sed 's/^/  | /' "$out" | tail -40
    fails=$((fails + 1))
}

expect() {
    local name="$1" want="$2" pat="$3"
    shift 4
    "$@" >"$out" 2>&1
    local rc=$?
    if { [ "$want" = nonzero ] && [ $rc -eq 0 ]; } || { [ "$want" != nonzero ] && [ $rc -ne "$want" ]; }; then
        fail "$name: exit $rc, want $want"
        return
    fi
    if [ -n "$pat" ] && ! grep -qE -- "$pat" "$out"; then fail "$name: output lacks /$pat/"; return; fi
    if [ -n "$forbidden" ] && grep -qE -- "$forbidden" "$out"; then
        fail "$name: output matches /$forbidden/"
        return
    fi
    echo "ok   $name"
}

check() {
    local name="$1"
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
