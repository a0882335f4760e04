#!/usr/bin/env bash
# libvkllm as a package: `meson install` into a temporary DESTDIR, then what a
# consumer does: examples/embed.c built with `cc $(pkg-config --cflags --libs
# vkllm)` against the installed copy (header, shared library, vkllm.pc), run
# on a generated model (it must print what the tree's own vkllm-embed
# prints), a C++ consumer of vkllm.h, and the exported symbols: vkllm_* only.
# argv: build dir, source dir, the tree's vkllm-embed, scratch dir.
set -uo pipefail
BUILD=$1 SRC=$2 TREE_EMBED=$3 S=$4
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
rm -rf "$S" && mkdir -p "$S" || exit 1
D=$S/destdir

meson install -C "$BUILD" --destdir "$D" --no-rebuild --quiet >"$S/install.log" 2>&1 ||
    { cat "$S/install.log"; echo "FAIL meson install"; exit 1; }
pc=$(find "$D" -name vkllm.pc | head -1)
[ -n "$pc" ] && ok "vkllm.pc installed (${pc#"$D"})" || { bad "no vkllm.pc installed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
export PKG_CONFIG_PATH=$(dirname "$pc")
# the .pc names the final prefix; under DESTDIR it lives below $D
PC="pkg-config --define-variable=prefix=$D$prefix"
[ -f "$D$prefix/include/vkllm.h" ] && ok "vkllm.h installed" || bad "vkllm.h not installed"
cflags=$($PC --cflags vkllm) libs=$($PC --libs vkllm)
case "$cflags" in *"$D"*) ok "pkg-config --cflags: $cflags" ;; *) bad "pkg-config --cflags does not point into the install: $cflags" ;; esac
libdir=$($PC --variable=libdir vkllm)
so=$(ls "$libdir"/libvkllm.so.*.*.* 2>/dev/null | head -1)
[ -n "$so" ] && [ -f "$libdir/libvkllm.a" ] && ok "shared and static libraries installed (${so#"$D"})" ||
    bad "libvkllm.so.X.Y.Z and libvkllm.a not both in $libdir"

# the consumer's build: only the installed files (not the source tree's include/)
if cc -std=c11 -Wall -Wextra -Werror "$SRC/examples/embed.c" $cflags $libs -o "$S/embed" 2>"$S/cc.log"; then
    ok "cc embed.c \$(pkg-config --cflags --libs vkllm)"
else
    cat "$S/cc.log"
    bad "embed.c does not build against the installed copy"
fi
export LD_LIBRARY_PATH=$libdir
if [ -x "$S/embed" ]; then
    linked=$(ldd "$S/embed" | awk '/libvkllm/ {print $3}')
    case "$linked" in "$D"*) ok "embed links the installed ${linked#"$D"}" ;; *) bad "embed links '$linked', not the installed library" ;; esac
    "$D$prefix/bin/vkllm-gen-model" --seed 3 --gguf "$S/model.gguf" >/dev/null || bad "vkllm-gen-model"
    out=$("$S/embed" "$S/model.gguf" "Hi there" 2>"$S/embed.err"); rc=$?
    want=$("$TREE_EMBED" "$S/model.gguf" "Hi there" 2>/dev/null)
    if [ $rc -eq 0 ] && [ -n "$out" ] && [ "$out" = "$want" ]; then
        ok "the installed embed answers as the tree's (${#out} bytes)"
    else
        cat "$S/embed.err"
        bad "installed embed: rc $rc, output '${out:0:60}', the tree's '${want:0:60}'"
    fi
fi

# as a meson subproject: dependency('vkllm', fallback: ['vkllm']) finds what
# meson.override_dependency declared, and builds only what the program needs
sub=$S/subproject
mkdir -p "$sub/subprojects" && ln -s "$(cd "$SRC" && pwd)" "$sub/subprojects/vkllm" && cp "$SRC/examples/embed.c" "$sub/app.c"
cat >"$sub/meson.build" <<'MESON'
project('app', 'c', default_options: ['c_std=c11'])
executable('app', 'app.c', dependencies: dependency('vkllm', fallback: ['vkllm']))
MESON
if (cd "$sub" && env -u MESON_BUILD_ROOT -u MESON_SOURCE_ROOT meson setup b --force-fallback-for=vkllm &&
    ninja -C b app) >"$S/subproject.log" 2>&1; then
    out=$(env -u LD_LIBRARY_PATH "$sub/b/app" "$S/model.gguf" "Hi there" 2>/dev/null)
    [ -n "$out" ] && [ "$out" = "$want" ] && ok "meson subproject: dependency('vkllm') builds and answers as the tree's" ||
        bad "the subproject-built program answers '${out:0:60}'"
else
    tail -20 "$S/subproject.log"
    bad "meson subproject build"
fi

# the Python binding over the installed shared library
if [ -n "$so" ]; then
    py=$(VKLLM_LIBRARY="$libdir/libvkllm.so.0.1" PYTHONPATH="$SRC/bindings/python" python3 -c '
import sys, vkllm
with vkllm.Model(sys.argv[1], n_ctx=1024) as m:
    print(m.session(n_ctx=1024).chat([("user", "Hi there")], max_tokens=64).wait(), end="")
print("\n" + vkllm.library()._name, file=sys.stderr)' "$S/model.gguf" 2>"$S/py.err")
    if [ "$py" = "$want" ] && grep -q "^$libdir/libvkllm.so.0.1\$" "$S/py.err"; then
        ok "bindings/python/vkllm.py over the installed library answers as the tree's embed"
    else
        cat "$S/py.err"
        bad "the Python binding over the installed library: '${py:0:60}'"
    fi
fi

# a C++ program includes vkllm.h and links the C library
if command -v c++ >/dev/null; then
    if c++ -std=c++11 -Wall -Wextra -Werror -pedantic "$SRC/tests/cxx_consumer.cpp" $cflags $libs -o "$S/cxx" 2>"$S/cxx.log" &&
        "$S/cxx" >"$S/cxx.out" 2>&1; then
        ok "C++ consumer builds and runs: $(cat "$S/cxx.out")"
    else
        cat "$S/cxx.log" "$S/cxx.out" 2>/dev/null
        bad "C++ consumer of vkllm.h"
    fi
else
    bad "no C++ compiler (tools/setup.sh installs g++ for the tests)"
fi

# exported: the public API and nothing else
if [ -n "$so" ]; then
    syms=$(nm -D --defined-only "$so" | awk '{print $3}')
    others=$(printf '%s\n' "$syms" | grep -v '^vkllm_' | grep -v '^$')
    n=$(printf '%s\n' "$syms" | grep -c '^vkllm_')
    [ -z "$others" ] && [ "$n" -gt 40 ] && printf '%s\n' "$syms" | grep -qx vkllm_model_load &&
        ok "nm -D: $n symbols, all vkllm_*" || bad "nm -D exports more than vkllm_* ($n vkllm_*): $(echo $others | head -c 300)"
    # every function the header declares is exported (a declaration without
    # VKLLM_API would link statically but not against the shared library)
    hdr=$D$prefix/include/vkllm.h
    declared=$(tr '\n' ' ' <"$hdr" | grep -oE '[A-Za-z_][A-Za-z0-9_ *]*[ *]vkllm_[a-z0-9_]+\(' |
               grep -vE '^\s*(typedef|return)' | grep -oE 'vkllm_[a-z0-9_]+\($' | tr -d '(' | sort -u)
    missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$syms" | sort -u))
    nd=$(printf '%s\n' "$declared" | grep -c .)
    [ "$nd" -gt 40 ] && [ -z "$missing" ] && ok "all $nd functions of vkllm.h exported" ||
        bad "vkllm.h declares functions the shared library does not export ($nd found): $(echo $missing | head -c 300)"
    soname=$(readelf -d "$so" | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
    [[ "$soname" == libvkllm.so.* ]] && [ -e "$libdir/$soname" ] && ok "soname $soname" || bad "soname '$soname'"
fi
echo "$fails failed"
[ $fails -eq 0 ]
