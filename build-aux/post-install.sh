#!/bin/sh
# After `meson install` into a live prefix: refresh the icon cache and the
# desktop database, so that the new icons and the app show up at once.
# Skipped for staged installs (DESTDIR): a package's own triggers do it
# on the target system. Missing tools are not an error.
#   post-install.sh DATADIR
set -eu
datadir=$1
if [ -n "${DESTDIR:-}" ]; then
  exit 0
fi
for cache in gtk4-update-icon-cache gtk-update-icon-cache; do
  if command -v "$cache" >/dev/null; then
    "$cache" -q -t -f "$datadir/icons/hicolor"
    break
  fi
done
if command -v update-desktop-database >/dev/null; then
  update-desktop-database -q "$datadir/applications"
fi
