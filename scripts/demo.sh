#!/usr/bin/env bash
# igotchuu for real, on a fresh Debian 12 machine, as root:
#   scripts/demo.sh           install what is missing, build and install igotchuu
#                             into a prefix of the demo's own, and back up sample
#                             data on a throwaway btrfs twice, started the way
#                             "Back up now" starts it (D-Bus activation)
#   scripts/demo.sh --clean   remove everything the demo made: processes,
#                             mounts, loop devices, the prefix and the files
#
# Everything lives in /var/tmp/igotchuu-demo. Nothing is installed into /usr
# or /etc (but missing Debian packages), and nothing touches the machine's
# own system bus: the demo runs a private one, with the installed bus policy
# and activation file, and polkitd on it. With a display (DISPLAY or
# WAYLAND_DISPLAY, and a session bus), it also starts the installed tray and
# window on that bus; without one, the terminal shows the progress.
#
# Running it again starts over, reusing the build. If it fails half-way, it
# removes everything it made before it exits.
#
# For tests and development (all optional):
#   IGOTCHUU_DEMO_DIR=DIR                 the demo's folder (default above)
#   IGOTCHUU_DEMO_PROFILE=dev             cargo profile (default: release)
#   IGOTCHUU_DEMO_CARGO_TARGET_DIR=DIR    reuse this cargo target dir (absolute)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

DEMO=${IGOTCHUU_DEMO_DIR:-/var/tmp/igotchuu-demo}
PROFILE=${IGOTCHUU_DEMO_PROFILE:-release}
TARGET_DIR=${IGOTCHUU_DEMO_CARGO_TARGET_DIR:-}

MARKER=$DEMO/.igotchuu-demo
BUILD=$DEMO/build
PREFIX=$DEMO/prefix
IMG=$DEMO/btrfs.img
MNT=$DEMO/btrfs
CONFIG=$DEMO/igotchuu.toml
STATE=$DEMO/state
BUS=$DEMO/bus
LOG=$DEMO/log
ADDRESS=unix:path=$BUS/system_bus_socket
POLKITD=/usr/lib/polkit-1/polkitd
POLKIT_BUS_POLICY=/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf
# In the environment of every process the demo starts, and so of what those
# start (the helper D-Bus activates, its restic, the window the tray opens):
# --clean finds them all by it. Never exported in this shell.
TAG=IGOTCHUU_DEMO=$DEMO
# How long processes get to end on SIGTERM (the helper stops restic and
# deletes its snapshots first), and how long a daemon may take to come up.
STOP_GRACE=20
START_LIMIT=20

say() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'demo: %s\n' "$*" >&2
  exit 1
}

# ------------------------------------------------------------ clean-up

# The processes whose environment carries $TAG.
demo_pids() {
  local dir pid
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$pid" != "$$" ] || continue
    # Processes that ended meanwhile, or that we may not read, are not ours.
    if { tr '\0' '\n' <"$dir/environ"; } 2>/dev/null | grep -qxF "$TAG"; then
      echo "$pid"
    fi
  done
}

stop_processes() {
  local pids left i
  mapfile -t pids < <(demo_pids)
  [ "${#pids[@]}" -gt 0 ] || return 0
  echo "Stopping ${#pids[@]} process(es) of the demo: ${pids[*]}"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < STOP_GRACE * 10; i++)); do
    mapfile -t left < <(demo_pids)
    [ "${#left[@]}" -gt 0 ] || return 0
    sleep 0.1
  done
  echo "Killing what did not stop within ${STOP_GRACE}s: ${left[*]}"
  kill -KILL "${left[@]}" 2>/dev/null || true
}

unmount_all() {
  local target
  # Deepest first. Paths with spaces are escaped (\x20) by findmnt -r.
  findmnt -rn -o TARGET | awk -v p="$DEMO/" 'index($0, p) == 1' | sort -r | while read -r target; do
    target=$(printf '%b' "$target")
    umount "$target" 2>/dev/null || umount -l "$target"
  done
  if [ -e "$IMG" ]; then
    losetup -j "$IMG" | cut -d: -f1 | while read -r dev; do
      losetup -d "$dev"
    done
  fi
}

# Everything but the build and the install: what one run makes.
clean_run() {
  stop_processes
  unmount_all
  rm -rf "$IMG" "$MNT" "$DEMO/repository" "$DEMO/password" "$CONFIG" \
    "$DEMO/cache" "$STATE" "$BUS" "$LOG" "$DEMO/polkit"
}

clean_all() {
  if [ -e "$DEMO" ] && [ ! -e "$MARKER" ]; then
    die "$DEMO is not the demo's (no $MARKER); not touching it"
  fi
  clean_run
  rm -rf "$DEMO"
}

# The folder must be the demo's, or new: never remove what the demo did
# not make.
claim_dir() {
  if [ -e "$DEMO" ] && [ ! -e "$MARKER" ] && [ -n "$(ls -A "$DEMO")" ]; then
    die "$DEMO exists and is not the demo's; set IGOTCHUU_DEMO_DIR to another folder"
  fi
  mkdir -p "$DEMO" "$LOG"
  chmod 755 "$DEMO"
  touch "$MARKER"
  # From here on a failure removes everything.
  claimed=1
}

# ------------------------------------------------------------ building

build_and_install() {
  local args=("--prefix=$PREFIX" "-Dprofile=$PROFILE")
  if [ -n "$TARGET_DIR" ]; then
    args+=("-Dcargo_target_dir=$TARGET_DIR")
  fi
  say "Building igotchuu ($PROFILE) with meson, and installing it into $PREFIX"
  # An earlier run's build is reused; one meson cannot reconfigure (made
  # from another checkout, say) is made anew.
  if ! { [ -f "$BUILD/build.ninja" ] &&
    meson setup --reconfigure "$BUILD" "$SRC" "${args[@]}" >"$LOG/meson-setup.log" 2>&1; }; then
    rm -rf "$BUILD"
    meson setup "$BUILD" "$SRC" "${args[@]}" >"$LOG/meson-setup.log" 2>&1 ||
      die "meson setup failed; $LOG/meson-setup.log says: $(tail -n 20 "$LOG/meson-setup.log")"
  fi
  meson compile -C "$BUILD"
  meson install -C "$BUILD" --no-rebuild --quiet
  [ -x "$PREFIX/bin/igotchuu" ] || die "meson installed no $PREFIX/bin/igotchuu"
  "$PREFIX/bin/igotchuu" --version
}

# ------------------------------------------------------------ the data

make_btrfs() {
  say "Making a throwaway btrfs with sample data in $MNT"
  mkdir -p "$MNT" "$STATE"
  truncate -s 1G "$IMG"
  mkfs.btrfs -q "$IMG"
  mount -o loop "$IMG" "$MNT"
  btrfs -q subvolume create "$MNT/home"
  btrfs -q subvolume create "$MNT/srv"
  mkdir -p "$MNT/home/alice" "$MNT/srv/www"
  cp -r /usr/share/doc "$MNT/home/alice/documents"
  cp -r /usr/share/common-licenses "$MNT/srv/www/licenses"
  head -c 64M /dev/urandom >"$MNT/home/alice/holiday-video.bin"
  du -sh "$MNT/home" "$MNT/srv"
}

make_repository() {
  say "Making a local restic repository in $DEMO/repository"
  head -c 32 /dev/urandom | base64 >"$DEMO/password"
  chmod 600 "$DEMO/password"
  cat >"$CONFIG" <<TOML
# The demo's configuration; see igotchuu.toml(5) for every setting.
places = ["$MNT/home", "$MNT/srv"]
repo = "$DEMO/repository"
password_file = "$DEMO/password"
restic_backup_args = ["--one-file-system"]
# Keep restic's cache inside the demo, so --clean removes it too.
restic_args = ["--cache-dir", "$DEMO/cache"]
TOML
  chmod 600 "$CONFIG"
  STATE_DIRECTORY=$STATE "$PREFIX/bin/igotchuu" -c "$CONFIG" restic -- init --quiet
  echo
  "$PREFIX/bin/igotchuu" -c "$CONFIG" check-config
}

# ------------------------------------------------------------ the bus

# dbus-send on the demo's bus; prints the reply.
bus_call() {
  DBUS_SYSTEM_BUS_ADDRESS=$ADDRESS dbus-send --system --print-reply "$@"
}

name_has_owner() {
  bus_call --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner "string:$1" 2>/dev/null | grep -q 'boolean true'
}

# Waits until $2 says yes, for at most $START_LIMIT seconds; $1 says what.
wait_until() {
  local what=$1 i
  shift
  for ((i = 0; i < START_LIMIT * 10; i++)); do
    if "$@"; then
      return 0
    fi
    sleep 0.1
  done
  die "$what did not happen within ${START_LIMIT}s"
}

# The private system bus: the real dbus-daemon, with the system bus's
# default rules, the INSTALLED bus policy (includedir of the prefix) and
# polkitd's, and the INSTALLED activation file, copied with `-c CONFIG`
# added, since a real install reads /etc/igotchuu.toml. The daemon runs as
# root and starts the helper itself, passing on its environment: the
# state folder below.
start_bus() {
  local installed=$PREFIX/share/dbus-1/system-services/com.nyantec.IGotChuu.service
  say "Starting a private system bus with the installed policy and activation file"
  [ -f "$installed" ] || die "meson installed no $installed"
  grep -qxF "Exec=$PREFIX/bin/igotchuu serve" "$installed" ||
    die "$installed does not run $PREFIX/bin/igotchuu serve"
  mkdir -p "$BUS/services"
  chmod 755 "$BUS" "$BUS/services"
  sed "s|^Exec=.*|& -c $CONFIG|" "$installed" >"$BUS/services/com.nyantec.IGotChuu.service"
  local polkit_include=
  if [ -f "$POLKIT_BUS_POLICY" ]; then
    polkit_include="<include>$POLKIT_BUS_POLICY</include>"
  fi
  cat >"$BUS/bus.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- The demo's private system bus (scripts/demo.sh). -->
<busconfig>
  <type>system</type>
  <listen>$ADDRESS</listen>
  <auth>EXTERNAL</auth>
  <servicedir>$BUS/services</servicedir>
  <!-- The defaults of /usr/share/dbus-1/system.conf: deny owning and calling.
       Kept the same as SYSTEM_DEFAULTS in tests/src/sysbus.rs. -->
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
  </policy>
  <includedir>$PREFIX/share/dbus-1/system.d</includedir>
  $polkit_include
</busconfig>
XML
  env "$TAG" STATE_DIRECTORY="$STATE" IGOTCHUU_LOG=info DBUS_SYSTEM_BUS_ADDRESS="$ADDRESS" \
    setsid dbus-daemon --config-file="$BUS/bus.conf" --nofork --nosyslog \
    </dev/null >"$LOG/bus.log" 2>&1 &
  echo $! >"$BUS/dbus-daemon.pid"
  wait_until "the bus to come up" name_has_owner org.freedesktop.DBus
  echo "bus: $ADDRESS (dbus-daemon pid $(cat "$BUS/dbus-daemon.pid"); it logs, and the helper prints, to $LOG/bus.log)"
}

# polkitd on the demo's bus, in a mount namespace of its own in which
# /usr/share/polkit-1/actions also has the INSTALLED actions, and
# /etc/polkit-1/rules.d a rule that lets the person who ran the demo (sudo)
# start and stop the demo's backups from the tray and window, where no
# authentication agent can ask for a password. Root is always allowed.
start_polkitd() {
  if [ ! -x "$POLKITD" ] || [ ! -f "$POLKIT_BUS_POLICY" ]; then
    say "polkitd is not installed: the helper lets only root start and stop backups"
    return 0
  fi
  say "Starting polkitd on the demo's bus, with the installed actions"
  local actions=$DEMO/polkit/actions rules=$DEMO/polkit/rules.d
  mkdir -p "$actions" "$rules"
  cp -r /usr/share/polkit-1/actions/. "$actions/"
  cp "$PREFIX"/share/polkit-1/actions/*.policy "$actions/"
  if [ -d /etc/polkit-1/rules.d ]; then
    cp -r /etc/polkit-1/rules.d/. "$rules/"
  fi
  if [ -n "${SUDO_USER:-}" ] && [ "${SUDO_UID:-0}" != 0 ]; then
    cat >"$rules/10-igotchuu-demo.rules" <<JS
// scripts/demo.sh: $SUDO_USER may start and stop the demo's backups.
polkit.addRule(function (action, subject) {
    if ((action.id == "com.nyantec.igotchuu.start" ||
         action.id == "com.nyantec.igotchuu.stop") &&
        subject.user == "$SUDO_USER") {
        return polkit.Result.YES;
    }
});
JS
  fi
  chmod -R a+rX "$DEMO/polkit"
  local bind_rules=
  if [ -d /etc/polkit-1/rules.d ]; then
    # shellcheck disable=SC2016 # expanded by the inner shell
    bind_rules='mount --bind "$2" /etc/polkit-1/rules.d &&'
  fi
  # shellcheck disable=SC2016 # expanded by the inner shell
  env "$TAG" DBUS_SYSTEM_BUS_ADDRESS="$ADDRESS" \
    setsid unshare --mount --propagation private \
    sh -c 'mount --bind "$1" /usr/share/polkit-1/actions && '"$bind_rules"' exec "$3" --no-debug' \
    polkitd "$actions" "$rules" "$POLKITD" </dev/null >"$LOG/polkitd.log" 2>&1 &
  echo $! >"$BUS/polkitd.pid"
  wait_until "polkitd to come up" name_has_owner org.freedesktop.PolicyKit1
  DBUS_SYSTEM_BUS_ADDRESS=$ADDRESS pkaction --action-id com.nyantec.igotchuu.start --verbose |
    sed -n '1p;/implicit active/p'
}

# ------------------------------------------------------------ the desktop

# Who sees the desktop: the person behind sudo, or root.
GUI_USER=root
GUI_UID=0
SESSION_BUS=

as_gui_user() {
  if [ "$GUI_UID" = 0 ]; then
    "$@"
  else
    runuser -u "$GUI_USER" -- "$@"
  fi
}

# Whether there is a display and a session bus to show the tray and window on.
have_desktop() {
  [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || return 1
  [ -x "$PREFIX/bin/igotchuu-tray" ] && [ -x "$PREFIX/bin/igotchuu-gui" ] || return 1
  if [ -n "${SUDO_UID:-}" ] && [ "$SUDO_UID" != 0 ]; then
    GUI_USER=$SUDO_USER
    GUI_UID=$SUDO_UID
  fi
  # sudo does not pass the session bus on; a systemd user session has it here.
  SESSION_BUS=${DBUS_SESSION_BUS_ADDRESS:-}
  if [ -z "$SESSION_BUS" ] && [ -S "/run/user/$GUI_UID/bus" ]; then
    SESSION_BUS=unix:path=/run/user/$GUI_UID/bus
  fi
  [ -n "$SESSION_BUS" ] || return 1
  as_gui_user env DBUS_SESSION_BUS_ADDRESS="$SESSION_BUS" dbus-send --session \
    --dest=org.freedesktop.DBus --print-reply /org/freedesktop/DBus \
    org.freedesktop.DBus.GetId >/dev/null 2>&1
}

# $1: the binary's name; its log goes to $LOG/$1.log. As the person at the
# display, with their session, on the demo's system bus and state folder.
start_gui() {
  local name=$1 run_as=()
  if [ "$GUI_UID" != 0 ]; then
    run_as=(runuser -u "$GUI_USER" --)
  fi
  env "$TAG" "${run_as[@]}" env "$TAG" \
    DISPLAY="${DISPLAY:-}" WAYLAND_DISPLAY="${WAYLAND_DISPLAY:-}" \
    XAUTHORITY="${XAUTHORITY:-}" XDG_RUNTIME_DIR="/run/user/$GUI_UID" \
    DBUS_SESSION_BUS_ADDRESS="$SESSION_BUS" DBUS_SYSTEM_BUS_ADDRESS="$ADDRESS" \
    IGOTCHUU_STATE_DIR="$STATE" \
    XDG_DATA_DIRS="$PREFIX/share:${XDG_DATA_DIRS:-/usr/local/share:/usr/share}" \
    setsid "$PREFIX/bin/$name" </dev/null >"$LOG/$name.log" 2>&1 &
  echo $! >"$BUS/$name.pid"
}

start_desktop() {
  say "Starting the installed tray and window for $GUI_USER, on the demo's bus"
  start_gui igotchuu-tray
  start_gui igotchuu-gui
  sleep 2
  local name
  for name in igotchuu-tray igotchuu-gui; do
    kill -0 "$(cat "$BUS/$name.pid")" 2>/dev/null ||
      die "$name ended at once; its log, $LOG/$name.log, says: $(tail -n 5 "$LOG/$name.log")"
  done
  echo "The tray icon and the window are up; each backup ends with a notification."
  echo "(No tray icon on GNOME? It needs the AppIndicator and KStatusNotifierItem extension.)"
}

# ------------------------------------------------------------ backing up

# "Back up now": a Start call on the demo's bus, which D-Bus-activates the
# installed `igotchuu serve`; `igotchuu watch` makes it and prints the run.
back_up() {
  say "$1"
  echo "\$ igotchuu watch --start    # Start on com.nyantec.IGotChuu, then follow the run"
  local code=0
  DBUS_SYSTEM_BUS_ADDRESS=$ADDRESS "$PREFIX/bin/igotchuu" watch --start || code=$?
  case $code in
    0) ;;
    3) echo "(completed with warnings: some files could not be read)" ;;
    *) die "the backup did not complete (igotchuu watch exit code $code); see $LOG/bus.log" ;;
  esac
}

on_exit() {
  local code=$1
  trap - EXIT INT TERM HUP
  [ "$code" -ne 0 ] || return 0
  [ "$claimed" = 1 ] || exit "$code"
  echo >&2
  echo "demo: failed (exit code $code). The last lines of its logs:" >&2
  local f
  for f in "$LOG"/*.log; do
    [ -s "$f" ] || continue
    echo "--- $f" >&2
    tail -n 15 "$f" >&2
  done
  echo "demo: removing everything it made" >&2
  clean_all >&2 || true
  exit "$code"
}

# ------------------------------------------------------------ main

case "${1:-}" in
  --clean | "") ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 [--clean]" >&2
    exit 2
    ;;
esac
[ "$(id -u)" -eq 0 ] || die "run this as root (sudo $0 ${1:-}): it makes a btrfs on a loop device"
case "$DEMO" in
  *[[:space:]\|\&]*) die "IGOTCHUU_DEMO_DIR must not contain spaces, | or &: \"$DEMO\"" ;;
  /*/*) ;;
  *) die "IGOTCHUU_DEMO_DIR must be an absolute path below a folder, not \"$DEMO\"" ;;
esac

if [ "${1:-}" = --clean ]; then
  if [ ! -e "$DEMO" ]; then
    stop_processes
    echo "Nothing to remove: there is no $DEMO."
    exit 0
  fi
  clean_all
  echo "Removed the demo: its processes, mounts and loop device, and $DEMO."
  exit 0
fi

claimed=0
trap 'on_exit $?' EXIT
trap 'exit 130' INT TERM HUP
started=$SECONDS

say "Installing what is missing"
bash scripts/deps.sh demo
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

claim_dir
# What an earlier run left; its build is reused.
clean_run
mkdir -p "$LOG"
build_and_install
make_btrfs
make_repository
start_bus
start_polkitd
desktop=0
if have_desktop; then
  desktop=1
  start_desktop
fi

back_up "A backup, started as \"Back up now\" starts it"
echo "written between the two backups" >"$MNT/home/alice/notes.txt"
back_up "A second backup: one new file; the others are recognised unchanged and not read again"
if restic version | grep -qE '^restic 0\.1[0-6]\.'; then
  echo "(Folders counted as changed: restic before 0.17 may see them so after a snapshot; see Known limitations in README.md)"
fi

say "igotchuu restic -- snapshots"
STATE_DIRECTORY=$STATE "$PREFIX/bin/igotchuu" -c "$CONFIG" restic -- snapshots

loop=$(losetup -j "$IMG" | cut -d: -f1)
running="The bus"
[ ! -f "$BUS/polkitd.pid" ] || running+=", polkitd"
[ "$desktop" = 0 ] || running+=", the tray and the window"
cat <<EOF

The demo ran in $((SECONDS - started))s. Everything is in $DEMO:
  $PREFIX    igotchuu as meson installed it (bin/, share/dbus-1/, share/polkit-1/, …)
  $MNT    the btrfs (on ${loop:-a loop device}), with subvolumes home and srv
  $DEMO/repository    the restic repository (password: $DEMO/password)
  $CONFIG    the configuration
  $STATE/history.json    the run history the tray and window read
  $ADDRESS    the private system bus
  $LOG/    the logs (bus.log has what the helper printed)
$running keep running. Try:
  DBUS_SYSTEM_BUS_ADDRESS=$ADDRESS $PREFIX/bin/igotchuu watch --start
  STATE_DIRECTORY=$STATE $PREFIX/bin/igotchuu -c $CONFIG restic -- ls latest
Remove it all with: $0 --clean
EOF
