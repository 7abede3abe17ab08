#!/usr/bin/env bash
# The demo: a SoftHSM2 token of its own, the local Dogtag-compatible CA, and a real CMC enrollment in
# which every private key stays on the token. Everything lives in demo-work/ (delete it to start over);
# safe to run twice (keys and CA are reused, each run enrolls once more).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/demo-work
BIN=$ROOT/.venv/bin
mkdir -p "$WORK"; chmod 700 "$WORK"
cd "$WORK"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*" | sed "s|$BIN/||g; s|$WORK/||g"; "$@"; }

step "1. A SoftHSM2 token of our own (SOFTHSM2_CONF=demo-work/softhsm/softhsm2.conf)"
for f in user.pin so.pin; do
    [ -f "$f" ] || od -An -N4 -tu4 /dev/urandom | tr -d ' ' > "$f"
    chmod 600 "$f"
done
bash "$ROOT/softhsm-setup/make-softhsm-token.sh" "$WORK/softhsm" demo user.pin so.pin
export SOFTHSM2_CONF=$WORK/softhsm/softhsm2.conf
TOKEN="pkcs11:token=demo?module-path=/usr/lib/softhsm/libsofthsm2.so"
PIN=(--pin-file user.pin)

key_uri() {  # a short URI for the key labelled $1, generating the key (on the device) the first time
    if ! "$BIN/cmc-agent" token keys --token "$TOKEN" "${PIN[@]}" --json | grep -q "\"label\": \"$1\""; then
        "$BIN/cmc-agent" token keygen --token "$TOKEN" --label "$1" --type "$2" "${PIN[@]}" >/dev/null
    fi
    echo "pkcs11:token=demo;object=$1;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so"
}

step "2. The local CA (cmc-localca), serving HTTPS on 127.0.0.1"
[ -f ca/ca.pem ] || show "$BIN/cmc-localca" init ca
"$BIN/cmc-localca" serve ca --host 127.0.0.1 --port 0 > serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening serve.log && break; sleep 0.1; done
PORT=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' serve.log)
[ -n "$PORT" ] || { cat serve.log; exit 1; }
cat serve.log

step "3. A CA agent whose signing key is on the token (the HSM agent)"
AGENT_KEY=$(key_uri demo-agent rsa:2048)
echo "agent key: $AGENT_KEY"
if [ ! -f agent.pem ]; then
    show "$BIN/cmc-agent" csr --key "$AGENT_KEY" --subject "CN=Demo Agent,UID=demoagent,O=Example" -o agent.csr "${PIN[@]}"
    show "$BIN/cmc-localca" agent add ca --csr agent.csr --out agent.pem
fi

step "4. A server key generated on the token (sensitive, never extractable), and its CSR"
USER_KEY=$(key_uri demo-server ec:p256)
echo "server key: $USER_KEY"
DEMO_PIN=$(head -n1 user.pin) pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label demo \
    --login --pin env:DEMO_PIN --list-objects --type privkey 2>/dev/null | sed -n '/label:      demo-server/,/Access/p'
show "$BIN/cmc-agent" csr --key "$USER_KEY" --subject "CN=server.example.com,O=Example" -o server.csr "${PIN[@]}"
openssl req -in server.csr -verify -noout 2>&1 | sed 's/^/   openssl: /'

step "5. The agent approves: a CMC Full PKI Request signed on the token"
show "$BIN/cmc-agent" request --csr server.csr --signer-key "$AGENT_KEY" --signer-cert agent.pem \
    --chain ca/ca.pem -o cmc-request.bin "${PIN[@]}"
openssl cms -verify -inform DER -in cmc-request.bin -CAfile ca/ca.pem -purpose any -binary -out /dev/null 2>&1 \
    | sed 's/^/   openssl cms: /'

step "6. Submitted over TLS, the agent's token key authenticating the connection"
show "$BIN/cmc-agent" submit cmc-request.bin --url "https://127.0.0.1:$PORT/ca/ee/ca/profileSubmitCMCFull?profileId=caCMCECserverCert" \
    --ca-cert ca/ca.pem --key "$AGENT_KEY" --cert agent.pem -o cmc-response.bin "${PIN[@]}"

step "7. The response, verified against the CA certificate"
show "$BIN/cmc-agent" response cmc-response.bin --ca-cert ca/ca.pem --chain-out server-chain.pem

step "8. The certificate imported next to its key on the token"
SERIAL=$(openssl x509 -in server-chain.pem -noout -serial | cut -d= -f2)
show "$BIN/cmc-agent" token import-cert --token "$TOKEN" --label "server.example.com $SERIAL" server-chain.pem "${PIN[@]}"
openssl verify -CAfile ca/ca.pem server-chain.pem | sed 's/^/   openssl: /'

step "9. A smart card (a second token): a first signing certificate with a shared secret, in one command"
[ -f card.pin ] || { od -An -N4 -tu4 /dev/urandom | tr -d ' ' > card.pin; chmod 600 card.pin; }
bash "$ROOT/softhsm-setup/make-softhsm-token.sh" "$WORK/softhsm" card card.pin so.pin
CARD="pkcs11:token=card?module-path=/usr/lib/softhsm/libsofthsm2.so"
[ -f jdoe.secret ] || "$BIN/cmc-localca" shared-token add ca --uid jdoe --generate --secret-out jdoe.secret
rm -f signing.enroll.json signing.trip*  # each demo run enrolls anew
enroll_signing() {
    show "$BIN/cmc-agent" enroll --token "$CARD" --label signing --subject "CN=John Doe,UID=jdoe" \
        --identification jdoe --secret-file jdoe.secret --pop-link-witness \
        --url "https://127.0.0.1:$PORT/ca/ee/ca/profileSubmitCMCFull?profileId=caFullCMCSharedTokenCert" \
        --ca-cert ca/ca.pem --chain-out signing.pem --pin-file card.pin
}
enroll_signing

step "10. An encryption-only key on the card, archived in the KRA: two EncryptedPOP trips, one command"
# A new key each run: the CA (like Dogtag's user-signed profile) refuses a second certificate for a key
# outside the renewal grace period.
ENC_LABEL="encryption-$(date +%Y%m%d-%H%M%S)"
show "$BIN/cmc-agent" enroll --token "$CARD" --label "$ENC_LABEL" --archivable --pop none \
    --archive-to ca/kra-transport.pem --subject "CN=John Doe,UID=jdoe,OU=Encryption" \
    --signer-key "pkcs11:token=card;object=signing;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so" --signer-cert signing.pem \
    --url "https://127.0.0.1:$PORT/ca/ee/ca/profileSubmitUserSignedCMCFull?profileId=caFullCMCUserSignedCert" \
    --ca-cert ca/ca.pem --chain-out encryption.pem --pin-file card.pin
ENC_SERIAL=$(openssl x509 -in encryption.pem -noout -serial | cut -d= -f2)
umask 077
"$BIN/cmc-localca" key recover ca --serial "0x$ENC_SERIAL" --out recovered.pem >/dev/null
if [ "$(openssl pkey -in recovered.pem -pubout)" = "$(openssl x509 -in encryption.pem -noout -pubkey)" ]; then
    echo "   the KRA holds the very key that is on the card (recovered and compared, then deleted)"
else
    echo "   MISMATCH between the archived key and the certificate"; rm -f recovered.pem; exit 1
fi
rm -f recovered.pem

step "11. Step 9's command once more: the state file says it is done, and nothing is sent again"
enroll_signing

step "Done: every signature was made on a token, and no key left one except, wrapped, the archived one"
