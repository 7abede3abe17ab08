#!/usr/bin/env bash
# Creates an NSS database (cert9.db, key4.db, pkcs11.txt) in DIR protected by the password in PASSWORD_FILE.
#   make-nssdb.sh DIR PASSWORD_FILE
# Safe to run twice: an existing database is left alone.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 DIR PASSWORD_FILE" >&2; exit 2; }
dir=$(realpath -m "$1"); pw=$2
mkdir -p "$dir"; chmod 700 "$dir"
if [ -f "$dir/cert9.db" ]; then
    echo "NSS database already exists in $dir" >&2
    exit 0
fi
certutil -N -d "sql:$dir" -f "$pw"
echo "created NSS database in $dir"
