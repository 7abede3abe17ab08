"""Certificate profiles as data files: what each Dogtag CMC profile checks and puts in a certificate.

A profile is a small ``key=value`` file named ``<profileId>.cfg``. The CA reads the files shipped in
``localca/profiles`` and then ``DIR/profiles``, where a file with the same name replaces a shipped one,
so users can edit or add profiles without touching the package. The keys, with the Dogtag profile
element each stands for (dogtag-cmc-server.md §2):

``name``, ``description``
    Free text.
``enable``
    ``true``/``false``. A disabled profile answers "Profile X Not Found". CS.cfg's
    ``profile.<id>.enable`` overrides it.
``auth``
    The authenticator (``auth.instance_id``): ``CMCAuth``, ``CMCUserSignedAuth``, ``AgentCertAuth``, or empty
    for none (requests are then deferred, as Dogtag defers them for agent approval).
``input``
    ``cmc`` (cmcCertReqInputImpl) or ``pkcs10`` (certReqInputImpl, the Simple endpoint).
``key.type``, ``key.parameters``
    keyConstraintImpl: ``RSA``, ``EC`` or ``-`` (any); RSA sizes and EC curve names (``nistp256`` ...).
``subject.default``
    ``request`` (userSubjectNameDefaultImpl), ``cmcSigner`` (cmcUserSignedSubjectNameDefaultImpl) or
    ``authToken`` (authTokenSubjectNameDefaultImpl).
``subject.constraint``
    ``pattern`` (subjectNameConstraintImpl, with ``subject.pattern``), ``cmcSigner``
    (cmcUserSignedSubjectNameConstraintImpl), ``sharedToken`` (cmcSharedTokenSubjectNameConstraintImpl)
    or ``none``.
``validity.default``, ``validity.max``, ``validity.ca``
    Days (validityDefaultImpl / validityConstraintImpl); ``validity.ca=true`` for caValidityDefaultImpl.
``ext.keyUsage``
    ``critical`` (optional) then usage names as in Dogtag's keyUsage* parameters.
``ext.extendedKeyUsage``, ``ext.extendedKeyUsage.critical``
    Comma-separated OIDs.
``ext.authorityKeyIdentifier``, ``ext.subjectKeyIdentifier``, ``ext.authorityInfoAccess``,
``ext.commonNameToSAN``, ``ext.ocspNoCheck``
    ``true`` to add the extension.
``ext.authorityInfoAccess.location``
    OCSP URL; empty means ``ca.defaultOcspUri`` or ``http://<machineName>:<port>/ca/ocsp``.
``ext.basicConstraints``
    ``critical`` (optional), ``ca`` or ``endEntity``, and an optional ``pathLen=N``.
``uniqueKey``, ``uniqueKey.allowSameKeyRenewal``
    uniqueKeyConstraintImpl.
``renewal.graceBefore``, ``renewal.graceAfter``
    renewGracePeriodConstraintImpl, in days.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from localca.config import CAConfig, ConfigError, parse_config_text

PROFILES_DIRECTORY_NAME = "profiles"

KEY_USAGE_NAMES = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "non_repudiation",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
    "crlSign": "crl_sign",
    "encipherOnly": "encipher_only",
    "decipherOnly": "decipher_only",
}
"""Dogtag's key usage parameter names -> asn1crypto's bit names."""

SubjectDefault = Literal["request", "cmcSigner", "authToken"]
SubjectConstraint = Literal["pattern", "cmcSigner", "sharedToken", "none"]


class ProfileError(Exception):
    """A profile file cannot be understood."""


@dataclass(frozen=True)
class KeyUsageSpec:
    critical: bool
    usages: frozenset[str]
    """asn1crypto bit names."""


@dataclass(frozen=True)
class BasicConstraintsSpec:
    critical: bool
    ca: bool
    path_length: int | None


@dataclass(frozen=True)
class Profile:
    profile_id: str
    name: str
    description: str
    enabled_in_file: bool
    authenticator: str | None
    input_type: Literal["cmc", "pkcs10"]
    key_type: str
    key_parameters: tuple[str, ...]
    subject_default: SubjectDefault
    subject_constraint: SubjectConstraint
    subject_pattern: str
    validity_default_days: int
    validity_max_days: int
    validity_bound_by_ca: bool
    key_usage: KeyUsageSpec | None
    extended_key_usage: tuple[str, ...]
    extended_key_usage_critical: bool
    authority_key_identifier: bool
    subject_key_identifier: bool
    authority_info_access: bool
    authority_info_access_location: str
    common_name_to_san: bool
    ocsp_no_check: bool
    basic_constraints: BasicConstraintsSpec | None
    unique_key: bool
    allow_same_key_renewal: bool
    renewal_grace_before_days: int | None
    renewal_grace_after_days: int | None
    source: str = ""
    raw: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def enabled(self, config: CAConfig) -> bool:
        override = config.profile_enable_override(self.profile_id)
        return self.enabled_in_file if override is None else override


def _bool(values: Mapping[str, str], key: str, default: bool = False) -> bool:
    raw = values.get(key)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise ProfileError(f"{key} must be true or false, not {raw!r}")
    return raw.lower() == "true"


def _int(values: Mapping[str, str], key: str, default: int | None) -> int | None:
    raw = values.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ProfileError(f"{key} must be a number of days, not {raw!r}") from None


def _words(raw: str) -> list[str]:
    return [word for word in raw.replace(",", " ").split() if word]


def _key_usage(raw: str | None) -> KeyUsageSpec | None:
    if not raw:
        return None
    words = _words(raw)
    critical = "critical" in words
    usages = set()
    for word in words:
        if word == "critical":
            continue
        if word not in KEY_USAGE_NAMES:
            raise ProfileError(f"unknown key usage {word!r}; use {', '.join(KEY_USAGE_NAMES)}")
        usages.add(KEY_USAGE_NAMES[word])
    return KeyUsageSpec(critical=critical, usages=frozenset(usages))


def _basic_constraints(raw: str | None) -> BasicConstraintsSpec | None:
    if not raw:
        return None
    words = _words(raw)
    path_length = None
    for word in words:
        if word.startswith("pathLen="):
            value = int(word.partition("=")[2])
            path_length = None if value < 0 else value
    return BasicConstraintsSpec(critical="critical" in words, ca="ca" in words, path_length=path_length)


def parse_profile(profile_id: str, text: str, source: str = "") -> Profile:
    """Read one profile file."""
    try:
        values = parse_config_text(text)
    except ConfigError as exc:
        raise ProfileError(f"{source or profile_id}: {exc}") from exc
    input_type = values.get("input", "cmc")
    if input_type not in ("cmc", "pkcs10"):
        raise ProfileError(f"{profile_id}: input must be cmc or pkcs10")
    subject_default = values.get("subject.default", "request")
    if subject_default not in ("request", "cmcSigner", "authToken"):
        raise ProfileError(f"{profile_id}: subject.default must be request, cmcSigner or authToken")
    subject_constraint = values.get("subject.constraint", "pattern")
    if subject_constraint not in ("pattern", "cmcSigner", "sharedToken", "none"):
        raise ProfileError(
            f"{profile_id}: subject.constraint must be pattern, cmcSigner, sharedToken or none"
        )
    key_type = values.get("key.type", "-").upper() or "-"
    if key_type not in ("RSA", "EC", "-"):
        raise ProfileError(f"{profile_id}: key.type must be RSA, EC or -")
    validity_default = _int(values, "validity.default", 180)
    validity_max = _int(values, "validity.max", validity_default)
    assert validity_default is not None and validity_max is not None
    try:
        return Profile(
            profile_id=profile_id,
            name=values.get("name", profile_id),
            description=values.get("description", ""),
            enabled_in_file=_bool(values, "enable", True),
            authenticator=values.get("auth") or None,
            input_type=input_type,  # type: ignore[arg-type]
            key_type=key_type,
            key_parameters=tuple(_words(values.get("key.parameters", ""))),
            subject_default=subject_default,  # type: ignore[arg-type]
            subject_constraint=subject_constraint,  # type: ignore[arg-type]
            subject_pattern=values.get("subject.pattern", ".*"),
            validity_default_days=validity_default,
            validity_max_days=validity_max,
            validity_bound_by_ca=_bool(values, "validity.ca"),
            key_usage=_key_usage(values.get("ext.keyUsage")),
            extended_key_usage=tuple(_words(values.get("ext.extendedKeyUsage", ""))),
            extended_key_usage_critical=_bool(values, "ext.extendedKeyUsage.critical"),
            authority_key_identifier=_bool(values, "ext.authorityKeyIdentifier"),
            subject_key_identifier=_bool(values, "ext.subjectKeyIdentifier"),
            authority_info_access=_bool(values, "ext.authorityInfoAccess"),
            authority_info_access_location=values.get("ext.authorityInfoAccess.location", ""),
            common_name_to_san=_bool(values, "ext.commonNameToSAN"),
            ocsp_no_check=_bool(values, "ext.ocspNoCheck"),
            basic_constraints=_basic_constraints(values.get("ext.basicConstraints")),
            unique_key=_bool(values, "uniqueKey"),
            allow_same_key_renewal=_bool(values, "uniqueKey.allowSameKeyRenewal"),
            renewal_grace_before_days=_int(values, "renewal.graceBefore", None),
            renewal_grace_after_days=_int(values, "renewal.graceAfter", None),
            source=source,
            raw=values,
        )
    except ValueError as exc:
        raise ProfileError(f"{profile_id}: {exc}") from exc


def _shipped_profile_texts() -> Iterable[tuple[str, str, str]]:
    package = importlib.resources.files("localca") / PROFILES_DIRECTORY_NAME
    for entry in sorted(package.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".cfg"):
            yield (
                entry.name[: -len(".cfg")],
                entry.read_text(encoding="utf-8"),
                f"localca/profiles/{entry.name}",
            )


class ProfileRegistry:
    """All profiles the CA knows: the shipped ones, replaced or extended by ``DIR/profiles/*.cfg``."""

    def __init__(self, profiles: Mapping[str, Profile]) -> None:
        self._profiles = dict(profiles)

    @classmethod
    def load(cls, ca_directory: Path | None) -> ProfileRegistry:
        profiles: dict[str, Profile] = {}
        for profile_id, text, source in _shipped_profile_texts():
            profiles[profile_id] = parse_profile(profile_id, text, source)
        if ca_directory is not None:
            local = ca_directory / PROFILES_DIRECTORY_NAME
            if local.is_dir():
                for path in sorted(local.glob("*.cfg")):
                    profiles[path.stem] = parse_profile(
                        path.stem, path.read_text(encoding="utf-8"), str(path)
                    )
        return cls(profiles)

    def get(self, profile_id: str) -> Profile | None:
        return self._profiles.get(profile_id)

    def all(self) -> list[Profile]:
        return [self._profiles[key] for key in sorted(self._profiles)]
