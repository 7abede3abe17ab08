#!/usr/bin/env bash
# Installs the Debian packages cmc-agent needs on a Debian 12 (bookworm) machine.
# Safe to run twice: it does nothing when every package and the backports source are already there.
# pkcs11-provider (OpenSSL 3 provider for TLS keys on PKCS#11 devices) exists only in bookworm-backports.
set -euo pipefail

PACKAGES=(softhsm2 opensc libnss3-tools gnutls-bin openssl p11-kit)
# A software TPM 2.0 for the TPM tests: swtpm, a resource manager on a private D-Bus, tpm2-pkcs11 and its tools.
PACKAGES+=(swtpm swtpm-tools tpm2-abrmd dbus libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-tools
    libtss2-tcti-swtpm0 libtss2-tcti-tabrmd0)
# The smart-card stack of tests/cards: pcscd, vsmartcard's virtual reader (vpcd), libcacard's CAC emulation.
PACKAGES+=(pcscd vsmartcard-vpcd libcacard0)
BACKPORTS_PACKAGES=(pkcs11-provider)
BACKPORTS_LIST=/etc/apt/sources.list.d/bookworm-backports.list

missing=()
for p in "${PACKAGES[@]}" "${BACKPORTS_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$BACKPORTS_LIST" >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends -t bookworm-backports "${BACKPORTS_PACKAGES[@]}" >/dev/null
echo "installed: ${missing[*]}"
