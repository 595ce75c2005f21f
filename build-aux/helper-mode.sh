#!/bin/sh
# The helper is installed 0711, unreadable for users: the restore's copy
# and look run it as the user who asked, and a program its user cannot
# read is not dumpable from its first instruction, so that user can never
# ptrace it or open its /proc files (its pipes, the helper's private mount
# namespace). Package managers that reset modes must keep this one.
#   helper-mode.sh BINARY   (absolute; DESTDIR is honoured)
set -eu
chmod 0711 "${DESTDIR:-}$1"
