"""The CA's ``CS.cfg``: the Dogtag configuration keys that change CMC behaviour, with Dogtag's defaults.

The file is Dogtag's ``key=value`` format (one pair a line, ``#`` comments). Only the keys of
dogtag-cmc-server.md §10 and a few of the double's own (paths, LDAP-like base DN, profile switches) are
read; anything else is kept and ignored, as Dogtag ignores keys it does not know.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

CONFIG_FILE_NAME = "CS.cfg"

DOGTAG_DEFAULTS: Mapping[str, str] = {
    # §10: every key with the default a freshly installed Dogtag CA has.
    "cmc.signerInfo.verify": "true",
    "cmc.bypassClientAuth": "false",
    "ca.requestVerify.enabled": "true",
    "cmc.popLinkWitnessRequired": "false",
    "cmc.lraPopWitness.verify.allow": "false",
    "cmc.revokeCert.verify": "true",
    "cmc.token": "internal",
    "keyWrap.useOAEP": "false",
    "cmc.response.useSimpleOnSuccess": "false",
    "cmc.cert.confirmRequired": "false",
    "auths.revocationChecking.enabled": "true",
    "auths.instance.AgentCertAuth.agentGroup": "Certificate Manager Agents",
    "kra.allowEncDecrypt.archival": "false",
    # The double's stand-ins for Dogtag's machine and LDAP configuration.
    "machineName": "localhost",
    "ca.connector.KRA.enable": "true",
    "auths.instance.SharedToken.ldap.basedn": "ou=People,dc=example,dc=com",
}
"""Values used when CS.cfg does not set a key."""

DOUBLE_ENABLED_PROFILES = (
    "caFullCMCUserSignedCert",
    "caECFullCMCUserSignedCert",
    "caFullCMCSharedTokenCert",
    "caECFullCMCSharedTokenCert",
)
"""Profiles that real Dogtag ships disabled but ``cmc-localca init`` enables, because the demo uses them."""


class ConfigError(Exception):
    """CS.cfg cannot be read."""


class CAConfig:
    """The parsed CS.cfg. Reads are thread-safe; the file is re-read only by :meth:`reload`."""

    def __init__(self, values: Mapping[str, str], path: Path | None = None) -> None:
        self._values = dict(values)
        self._path = path
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path) -> CAConfig:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        return cls(parse_config_text(text), path)

    def reload(self) -> None:
        """Read the file again (tests change a switch between requests)."""
        if self._path is None:
            return
        fresh = parse_config_text(self._path.read_text(encoding="utf-8"))
        with self._lock:
            self._values = fresh

    def get(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            if key in self._values:
                return self._values[key]
        if key in DOGTAG_DEFAULTS:
            return DOGTAG_DEFAULTS[key]
        return default

    def get_bool(self, key: str, default: bool = False) -> bool:
        """Dogtag's ``getBoolean``: "true" in any case is true, anything else false."""
        value = self.get(key)
        if value is None or value.strip() == "":
            return default
        return value.strip().lower() == "true"

    def profile_enable_override(self, profile_id: str) -> bool | None:
        """``profile.<id>.enable`` in CS.cfg, if set: the double's switch over a profile file's ``enable``."""
        value = self.get(f"profile.{profile_id}.enable")
        if value is None or not value.strip():
            return None
        return value.strip().lower() == "true"

    def set(self, key: str, value: str) -> None:
        """Change a value in memory and in the file, keeping the file's other lines as they are."""
        with self._lock:
            self._values[key] = value
        if self._path is not None:
            write_config_values(self._path, {key: value})

    def items(self) -> Iterable[tuple[str, str]]:
        with self._lock:
            return sorted(self._values.items())


def parse_config_text(text: str) -> dict[str, str]:
    """``key=value`` lines; blank lines and ``#`` comments skipped; later keys win."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"line {number} is not key=value: {raw!r}")
        values[key.strip()] = value.strip()
    return values


def write_config_values(path: Path, updates: Mapping[str, str]) -> None:
    """Set keys in a CS.cfg file: replace a key's line where it is, append new keys at the end."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    pending = dict(updates)
    for index, raw in enumerate(lines):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key = stripped.partition("=")[0].strip()
        if key in pending:
            lines[index] = f"{key}={pending.pop(key)}"
    lines.extend(f"{key}={value}" for key, value in pending.items())
    temporary = path.with_suffix(".tmp")
    temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    temporary.replace(path)


def initial_config_text(extra: Mapping[str, str]) -> str:
    """The CS.cfg that ``init`` writes: every §10 key spelled out with Dogtag's default, then the double's."""
    out = [
        "# cmc-localca configuration, in Dogtag's CS.cfg syntax (key=value).",
        "# The keys below are the CS.cfg keys that change CMC behaviour (dogtag-cmc-server.md section 10),",
        "# set to the defaults of a freshly installed Dogtag CA. Edit and restart `cmc-localca serve`.",
        "",
    ]
    for key, value in DOGTAG_DEFAULTS.items():
        out.append(f"{key}={value}")
    out += [
        "",
        "# Real Dogtag ships the user-signed and shared-token profiles disabled (enable=false).",
        "# The double enables them here because the demo needs them; set to false to get Dogtag's behaviour",
        '# ("Profile X Not Found").',
    ]
    for profile_id in DOUBLE_ENABLED_PROFILES:
        out.append(f"profile.{profile_id}.enable=true")
    out.append("")
    for key, value in extra.items():
        out.append(f"{key}={value}")
    return "\n".join(out) + "\n"
