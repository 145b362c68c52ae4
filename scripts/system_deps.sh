#!/usr/bin/env bash
# Install the system packages the app needs but pip cannot give it (Debian/Ubuntu).
#
# The libraries are not listed here, so the list cannot drift: `ldd` on the Qt plugins the
# window loads (the xcb and wayland platforms, their GL and shell integrations, multimedia,
# input methods, image formats) and on the PySide6 modules the app's sources import says which
# libraries are missing, and each is mapped to its package by Debian's naming rule
# (libxcb-icccm.so.4 -> libxcb-icccm4; Ubuntu's "t64" renames too), checked against apt's index.
#
# Usage: system_deps.sh [--venv | --test] [--check] [PYTHON]
#   PYTHON   the interpreter (the venv's, with PySide6 installed; default python3)
#   --venv   only what `python3 -m venv` needs (Debian splits ensurepip off into python3-venv)
#   --test   also what the test suite needs to run the real window: Xvfb, xauth, and Mesa's
#            software OpenGL (what a desktop without a GPU driver draws with)
#   --check  only say what is missing and which packages would provide it; install nothing
# Exit status: 0 when nothing is missing (any more); 1 otherwise, with the reason on stderr.
set -u
mode=gui check=0 python=python3
for arg in "$@"; do
  case "$arg" in
    --venv) mode=venv ;;
    --test) mode=test ;;
    --check) check=1 ;;
    -*) echo "usage: $0 [--venv | --test] [--check] [PYTHON]" >&2; exit 2 ;;
    *) python="$arg" ;;
  esac
done

say() { echo "system_deps: $*" >&2; }

if [ "$mode" != venv ]; then
  if ! command -v ldd >/dev/null; then
    exit 0  # not a glibc Linux (macOS): PySide6's wheels bundle what they need there
  fi
  if ! qt=$("$python" -c 'import os, PySide6; print(os.path.dirname(PySide6.__file__))' \
            2>/dev/null); then
    say "PySide6 is not installed for $python; install the package first (make does)"
    exit 1
  fi
  # The plugins the window loads, then the PySide6 modules the app's sources import (a grep,
  # so a new import is covered at once).
  here=$(cd "$(dirname "$0")/.." && pwd)
  files=("$qt"/Qt/plugins/platforms/libq{xcb,wayland}.so)
  for dir in xcbglintegrations wayland-shell-integration wayland-graphics-integration-client \
             wayland-decoration-client multimedia platforminputcontexts imageformats; do
    files+=("$qt"/Qt/plugins/"$dir"/*.so)
  done
  for module in $(grep -rhoE 'PySide6\.Qt[A-Za-z]+' "$here/highlight_studio" | sort -u); do
    files+=("$qt/${module#PySide6.}.abi3.so")
  done
fi

# Debian names a library's package after its soname: lowercase, "_" as "-", the major version
# appended (after a "-" when the name ends in a digit). These few break the rule.
package_for() {
  local soname=$1 base major
  case "$soname" in
    libglib-2.0.so.*|libgobject-2.0.so.*|libgio-2.0.so.*|libgthread-2.0.so.*|libgmodule-2.0.so.*)
      echo libglib2.0-0; return ;;
    libpulsecommon-*) echo libpulse0; return ;;
    libGLdispatch.so.*) echo libglvnd0; return ;;
    libz.so.*) echo zlib1g; return ;;
    libbz2.so.*) echo libbz2-1.0; return ;;
    libvorbis.so.*|libvorbisenc.so.*|libvorbisfile.so.*) echo libvorbis0a; return ;;
  esac
  base=$(echo "${soname%%.so*}" | tr 'A-Z_' 'a-z-')
  major=${soname#*.so}
  major=${major#.}
  major=${major%%.*}
  case "$base" in
    *[0-9]) [ -n "$major" ] && base="$base-" ;;
  esac
  echo "$base$major"
}

# The package apt knows under that name, or under Ubuntu's 64-bit time_t rename.
known_package() {
  local name
  for name in "$1" "${1}t64"; do
    if apt-cache show --no-all-versions "$name" >/dev/null 2>&1; then
      echo "$name"
      return 0
    fi
  done
  return 1
}

missing_libs() {  # "soname needed-by" lines
  [ "$mode" != venv ] || return 0
  local f
  for f in "${files[@]}"; do
    [ -e "$f" ] || continue
    ldd "$f" 2>/dev/null | awk -v by="$(basename "$f")" '/=> not found/ {print $1, by}'
  done | sort -u -k1,1
}

missing_other() {  # "package what-for" lines: what ldd cannot see
  case "$mode" in
    venv)
      "$python" -c 'import ensurepip, venv' 2>/dev/null \
        || echo "python3-venv Python's venv and ensurepip modules"
      return ;;
    test)
      command -v Xvfb >/dev/null || echo "xvfb the virtual X server the window tests draw on"
      command -v xauth >/dev/null || echo "xauth xvfb-run's access cookie"
      ls /usr/lib/*/dri/swrast_dri.so /usr/lib/dri/swrast_dri.so 2>/dev/null | grep -q . \
        || echo "libgl1-mesa-dri Mesa's software OpenGL" ;;
  esac
  # Qt bundles no fonts: without one every label in the window is blank.
  find /usr/share/fonts /usr/local/share/fonts -type f \
       \( -name '*.ttf' -o -name '*.otf' -o -name '*.pcf*' \) 2>/dev/null | grep -q . \
    || echo "fonts-dejavu-core a font for the window's text"
}

# Sets "packages" and "reasons", and "unknown" for libraries apt's index has no package for.
# With no index yet (a fresh machine before apt-get update) the rule's names go unchecked.
resolve() {
  packages=() reasons=() unknown=()
  local soname by name why checked=0
  command -v apt-cache >/dev/null && known_package libc6 >/dev/null && checked=1
  while read -r soname by; do
    [ -n "$soname" ] || continue
    name=$(package_for "$soname")
    if [ "$checked" = 1 ] && ! name=$(known_package "$name"); then
      unknown+=("$soname (needed by $by; apt has no package $(package_for "$soname"))")
      continue
    fi
    packages+=("$name")
    reasons+=("$name: $soname, needed by $by")
  done < <(missing_libs)
  while read -r name why; do
    [ -n "$name" ] || continue
    packages+=("$name")
    reasons+=("$name: $why")
  done < <(missing_other)
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u | grep .)
}

explain() {
  local line
  for line in "${reasons[@]}"; do say "missing $line"; done
  for line in "${unknown[@]}"; do
    say "error: no Debian package known for $line; find the one that ships it with" \
        "'apt-file search ${line%% *}' and install it"
  done
}

nothing_missing() { [ ${#packages[@]} -eq 0 ] && [ ${#unknown[@]} -eq 0 ]; }

resolve
nothing_missing && exit 0
if [ "$check" = 1 ]; then
  explain
  [ ${#packages[@]} -gt 0 ] && echo "would install: ${packages[*]}"
  exit 1
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  explain
  [ ${#packages[@]} -gt 0 ] && say "install them with: sudo apt-get install ${packages[*]}"
  exit 1
fi
apt="apt-get -qq -o DPkg::Lock::Timeout=300"
say "missing packages: updating apt's index"
$apt update || { say "error: apt-get update failed"; exit 1; }
resolve  # against the fresh index
explain
if [ ${#packages[@]} -gt 0 ]; then
  say "installing ${packages[*]}"
  DEBIAN_FRONTEND=noninteractive $apt install -y --no-install-recommends "${packages[@]}" \
    >/dev/null || { say "error: apt-get install failed"; exit 1; }
fi
resolve  # everything should be found now
nothing_missing && exit 0
say "still missing after the install:"
explain
exit 1
