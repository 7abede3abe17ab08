#!/usr/bin/env bash
# The demo: a SoftHSM2 token of its own, a key generated on it, a CSR signed by it, checked by openssl.
# Everything lives in demo-work/ (delete it to start over); safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/demo-work
AGENT="$ROOT/.venv/bin/cmc-agent"
mkdir -p "$WORK"; chmod 700 "$WORK"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "A SoftHSM2 token of our own (SOFTHSM2_CONF=$WORK/softhsm/softhsm2.conf)"
[ -f "$WORK/user.pin" ] || { printf '%s\n' "$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')" > "$WORK/user.pin"; }
[ -f "$WORK/so.pin" ] || { printf '%s\n' "$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')" > "$WORK/so.pin"; }
chmod 600 "$WORK/user.pin" "$WORK/so.pin"
bash softhsm-setup/make-softhsm-token.sh "$WORK/softhsm" demo "$WORK/user.pin" "$WORK/so.pin"
export SOFTHSM2_CONF=$WORK/softhsm/softhsm2.conf
TOKEN="pkcs11:token=demo?module-path=/usr/lib/softhsm/libsofthsm2.so"
PIN=(--pin-file "$WORK/user.pin")

step "A key generated on the device (sensitive, never extractable)"
KEY=$("$AGENT" token keys --token "$TOKEN" "${PIN[@]}" --json | python3 -c '
import json, sys
print(next((k["uri"] for k in json.load(sys.stdin) if k["label"] == "demo-user"), ""))')
if [ -z "$KEY" ]; then
    KEY=$("$AGENT" token keygen --token "$TOKEN" --label demo-user --type rsa:2048 "${PIN[@]}")
fi
echo "$KEY"
# pkcs11-tool (OpenSC, a tool we did not write) shows the key's attributes; env: keeps the PIN off argv.
DEMO_PIN=$(head -n1 "$WORK/user.pin") pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label demo \
    --login --pin env:DEMO_PIN --list-objects --type privkey 2>/dev/null | sed -n '/Private Key Object/,/Access/p'

step "A PKCS#10 CSR signed on the device"
"$AGENT" csr --key "$KEY" --subject "CN=Demo User,UID=demo,O=Example" --ski -o "$WORK/demo-user.csr" "${PIN[@]}"
openssl req -in "$WORK/demo-user.csr" -verify -noout -subject

step "Done: the key never left the token; openssl verified the signature it made"
