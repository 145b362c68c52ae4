#!/usr/bin/env bash
# Install the few system libraries PySide6's wheels expect but do not bundle (Debian/Ubuntu).
# Without root or apt, say what is missing instead of failing: the core and CLI still work.
set -u
need=()
ldconfig -p 2>/dev/null | grep -q 'libpulse.so.0' || need+=(libpulse0)
ldconfig -p 2>/dev/null | grep -q 'libxkbcommon.so.0' || need+=(libxkbcommon0)
ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' || need+=(libegl1)
ldconfig -p 2>/dev/null | grep -q 'libfontconfig.so.1' || need+=(libfontconfig1)
ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || need+=(libgl1)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing system libraries for Qt: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "warning: missing system libraries for the GUI: ${need[*]} (install them with your package manager)" >&2
fi
exit 0
