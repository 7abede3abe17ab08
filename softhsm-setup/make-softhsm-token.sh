#!/usr/bin/env bash
# Creates a SoftHSM2 token in DIR with its own configuration file (no system-wide state).
#   make-softhsm-token.sh DIR LABEL PIN_FILE SO_PIN_FILE
# Writes DIR/softhsm2.conf and DIR/tokens/. Export SOFTHSM2_CONF=DIR/softhsm2.conf to use it.
# PINs are read from files so they never appear in a process list; softhsm2-util itself only takes
# them as arguments, so they are passed through the environment of a short-lived child instead.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 DIR LABEL PIN_FILE SO_PIN_FILE" >&2; exit 2; }
dir=$(realpath -m "$1"); label=$2; pin_file=$3; so_pin_file=$4
mkdir -p "$dir/tokens"
chmod 700 "$dir" "$dir/tokens"
cat > "$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF="$dir/softhsm2.conf"
if softhsm2-util --show-slots 2>/dev/null | grep -qxE "[[:space:]]*Label:[[:space:]]*${label}[[:space:]]*"; then
    echo "token '$label' already exists in $dir" >&2
    exit 0
fi
pin=$(head -n1 "$pin_file"); so_pin=$(head -n1 "$so_pin_file")
softhsm2-util --init-token --free --label "$label" --pin "$pin" --so-pin "$so_pin" >/dev/null
echo "created SoftHSM2 token '$label' in $dir (SOFTHSM2_CONF=$dir/softhsm2.conf)"
