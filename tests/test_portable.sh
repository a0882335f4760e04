#!/usr/bin/env bash
# The platform seam (src/util/plat.h): outside src/util/plat_*.c (and volk's
# own source, src/gpu/volk_impl.c) the library includes no OS header, so a
# port replaces those files only; and it builds without _GNU_SOURCE
# (meson.build gives it _POSIX_C_SOURCE=200809L, nothing more).
# argv: source root
set -uo pipefail
cd "$1" || exit 1
bad=$(grep -rnE '#\s*include\s*<(unistd|fcntl|dlfcn|dirent|termios|signal|windows)\.h>|#\s*include\s*<sys/' src \
      --include='*.c' --include='*.h' | grep -vE '^src/util/plat_[a-z0-9]+\.c:')
if [ -n "$bad" ]; then
    echo "FAIL OS headers outside src/util/plat_*.c (use src/util/plat.h):"
    echo "$bad"
    exit 1
fi
echo "ok   src/ includes OS headers only in src/util/plat_*.c"
gnu=$(grep -rn '_GNU_SOURCE\|_DEFAULT_SOURCE\|_BSD_SOURCE' src || true)
if [ -n "$gnu" ]; then
    echo "FAIL the library asks for more than POSIX.1-2008:"
    echo "$gnu"
    exit 1
fi
grep -q "_POSIX_C_SOURCE=200809L" meson.build || { echo "FAIL meson.build no longer builds the library as POSIX.1-2008"; exit 1; }
echo "ok   src/ builds as POSIX.1-2008 (no _GNU_SOURCE)"
