#!/bin/sh
# Container entrypoint (runs under tini): make the data volume writable by the app user, then drop
# root for good and exec the command (by default `bun src/cli.ts start`).
#
# Why not just `USER 10001` in the Dockerfile: a Fly volume is a fresh ext4 filesystem whose top
# directory belongs to root, so a non-root process cannot create the SQLite store there and the
# machine would crash-loop. This script is the only code that ever runs as root, and only to
# chown DATA_DIR; every pipbot process runs as PIPBOT_UID:PIPBOT_GID (10001:10001).
# Started as a non-root user already (docker run --user 10001), it changes nothing and just execs.
set -eu

uid="${PIPBOT_UID:-10001}"
gid="${PIPBOT_GID:-10001}"
data="${DATA_DIR:-/data}"

if [ "$#" -eq 0 ]; then
  echo "entrypoint: no command given" >&2
  exit 64
fi

if [ "$(id -u)" = "0" ]; then
  # Never hand a system or shared directory to the app user (a chown -R of /tmp or / would be a
  # disaster): DATA_DIR must be a dedicated directory such as the /data volume.
  case "$data" in
    "" | / | /tmp | /tmp/ | /var | /var/ | /var/tmp | /var/tmp/ | /usr | /usr/* | /etc | /etc/* | /home | /home/ | /root | /root/* | /bin* | /sbin* | /lib* | /proc* | /sys* | /dev* | /nix | /nix/* | /run | /run/*)
      echo "entrypoint: refusing to take ownership of DATA_DIR=$data (use a dedicated directory such as /data)" >&2
      exit 64
      ;;
  esac
  if [ "$uid" = "0" ]; then
    echo "entrypoint: refusing to run pipbot as root (PIPBOT_UID=0)" >&2
    exit 64
  fi
  mkdir -p "$data"
  if [ "$(stat -c %u "$data")" != "$uid" ]; then
    # First boot on a new volume (or one written by an older image as root).
    chown -R "$uid:$gid" "$data"
  fi
  exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
fi

exec "$@"
