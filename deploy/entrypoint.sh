#!/bin/sh
# Container entrypoint of Dockerfile.integrated (runs under tini): make the data VOLUME writable by
# the app user, then drop root for good and exec the command (default `bun src/cli.ts start`).
#
# Why not just `USER 10001` in the Dockerfile: a Fly volume is a fresh ext4 filesystem whose top
# directory belongs to root (fly.toml has no uid option for mounts), so a non-root process could
# not create the SQLite store there and the machine would crash-loop. This script is the only code
# that ever runs as root, and only to chown DATA_DIR; every pipbot process runs as
# PIPBOT_UID:PIPBOT_GID (10001:10001). Started as non-root (docker run --user 10001), it only execs.
#
# What it will chown, and nothing else (an early version chowned all of /tmp when a test passed
# DATA_DIR=/tmp; test/deploy/entrypoint.test.ts now proves every refusal below):
#   - DATA_DIR must be an absolute, canonical path (no ., .., //, trailing /, no symlink in it),
#   - not a system or shared directory (/, /tmp, /var/tmp, /usr, /etc, /app, /home, …),
#   - and either a MOUNT POINT (the volume) or a directory this script has just created (empty).
#   An existing plain directory owned by someone else is refused: chown it yourself if you mean it.
#   The chown never follows symlinks (-h) and never touches / (--preserve-root).
# Exit codes: 64 no command; 78 (EX_CONFIG) a refused DATA_DIR or PIPBOT_UID; else the command's.
set -eu

uid="${PIPBOT_UID:-10001}"
gid="${PIPBOT_GID:-10001}"
data="${DATA_DIR:-/data}"

refuse() {
  echo "entrypoint: refusing to take ownership of DATA_DIR=$data: $1 (use a dedicated volume such as /data)" >&2
  exit 78
}

if [ "$#" -eq 0 ]; then
  echo "entrypoint: no command given" >&2
  exit 64
fi

if [ "$(id -u)" != "0" ]; then
  exec "$@"
fi

# 1. The path itself, as text: absolute and canonical.
case "$data" in
  /*) ;;
  *) refuse "not an absolute path" ;;
esac
case "$data" in
  */ | *//* | */./* | */. | */../* | */..) refuse "not a canonical path" ;;
esac
# 2. Never a system or shared directory, nor anything inside one (the app code in /app included).
case "$data" in
  /tmp | /var/tmp | /var | /home | /mnt | /media | /srv | /opt | /root | /root/* \
    | /usr | /usr/* | /etc | /etc/* | /bin | /bin/* | /sbin | /sbin/* | /lib | /lib/* | /lib32 | /lib32/* \
    | /lib64 | /lib64/* | /libx32 | /libx32/* | /boot | /boot/* | /proc | /proc/* | /sys | /sys/* | /dev \
    | /dev/* | /run | /run/* | /nix | /nix/* | /app | /app/* | /var/lib | /var/lib/* | /var/log | /var/log/*)
    refuse "a system or shared directory"
    ;;
esac
if [ "$uid" = "0" ] || [ "$gid" = "0" ]; then
  echo "entrypoint: refusing to run pipbot as root (PIPBOT_UID=$uid PIPBOT_GID=$gid)" >&2
  exit 78
fi
case "$uid$gid" in
  *[!0-9]*) echo "entrypoint: PIPBOT_UID and PIPBOT_GID must be numeric (got $uid:$gid)" >&2; exit 78 ;;
esac

# 3. What is on disk: no symlink anywhere in the path; create it if missing.
created=0
if [ -e "$data" ] || [ -L "$data" ]; then
  [ -d "$data" ] || refuse "not a directory"
  [ "$(readlink -f "$data")" = "$data" ] || refuse "it is (or passes through) a symlink to $(readlink -f "$data")"
else
  mkdir -p "$data"
  [ "$(readlink -f "$data")" = "$data" ] || refuse "it passes through a symlink to $(readlink -f "$data")"
  created=1
fi

# 4. Only a volume mount point (first boot, or data written as root by an older image) or the
#    empty directory created above is handed over.
if [ "$(stat -c %u:%g "$data")" != "$uid:$gid" ]; then
  if mountpoint -q "$data"; then
    chown -R -h --preserve-root "$uid:$gid" "$data"
  elif [ "$created" = "1" ]; then
    chown -h "$uid:$gid" "$data"
  else
    refuse "it belongs to $(stat -c %u:%g "$data"), is not a mount point and was not created here"
  fi
fi

exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
