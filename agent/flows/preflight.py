"""Checks made before a key is generated for an enrollment: no key for a request that cannot be sent.

A key made on a smart card for an enrollment that then fails on a typo in the URL, a CA that is down,
the wrong ``--ca-cert`` or a profile that takes EC keys only stays on the card for nothing. Everything
that can be known without the key is checked first:

1. the URL names a CMC servlet (``.../profileSubmit...CMC...``) and a profile (``?profileId=``);
2. the server answers, its certificate verifies against ``--ca-cert``, and a TLS client certificate, when
   one is used, is accepted (the first call carries it);
3. the profile exists, is enabled and takes this key type, as far as the CA says: Dogtag shows a
   profile's definition (``GET /ca/rest/profiles/{id}``) to agents only; anybody may fetch its
   enrollment template (existence) and the list of visible profiles (enabled or not). A CA without
   Dogtag's REST API is not asked; the CA then checks the profile when the request arrives.

A failed check raises :class:`PreflightFailed`: one line, and the caller has made nothing yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from agent.cmc.errors import CMCError
from agent.rest import DogtagRest, KeyConstraint

CURVE_NAMES = {
    "p256": ("nistp256", "secp256r1", "prime256v1"),
    "p384": ("nistp384", "secp384r1"),
    "p521": ("nistp521", "secp521r1"),
}
"""Our ``ec:`` spellings -> the names Dogtag's keyConstraintImpl lists (``keyParameters``)."""

CLIENT_CERTIFICATE_REFUSED = (
    "alert bad certificate",
    "alert unknown ca",
    "certificate required",
    "alert certificate unknown",
    "alert access denied",
    "alert handshake failure",
)
"""OpenSSL's words when the server refuses our TLS client certificate."""
HANDSHAKE_CLOSED = ("eof occurred in violation of protocol", "unexpected eof")
"""A server that refuses a TLS 1.3 client certificate may close the connection without an alert; with a
client certificate in play, that is the likeliest reason for such an EOF."""


class PreflightFailed(CMCError):
    """A check made before any key was generated failed: nothing was generated, sent or recorded. The
    message names the check and what to change."""


@dataclass(frozen=True)
class ProfileFacts:
    """What the CA said about the profile (``None`` where it did not say)."""

    profile_id: str
    exists: bool | None
    enabled: bool | None
    key_constraints: tuple[KeyConstraint, ...]
    source: str
    """How it was learnt, for the step line."""

    def refusal_for(self, key_type: str) -> str | None:
        """Why the profile would refuse a ``key_type`` (``rsa:2048``, ``ec:p256``) key, or None."""
        return key_refusal(self.profile_id, self.key_constraints, key_type)


def key_refusal(profile_id: str, constraints: Sequence[KeyConstraint], key_type: str) -> str | None:
    algorithm, _, size = key_type.partition(":")
    for constraint in constraints:
        if constraint.key_type not in ("-", "RSA", "EC"):
            continue
        takes = (
            f"{constraint.key_type} keys ({', '.join(constraint.parameters)})"
            if constraint.parameters
            else f"{constraint.key_type} keys"
        )
        if constraint.key_type != "-" and constraint.key_type.lower() != algorithm:
            return f"profile {profile_id} takes {takes} only, not this {key_type} key"
        if not constraint.parameters or constraint.key_type == "-":
            continue
        names = (size,) if algorithm == "rsa" else CURVE_NAMES.get(size, (size,))
        if not any(name in constraint.parameters for name in names):
            return f"profile {profile_id} takes {takes}, not {key_type}"
    return None


def check_url(url: str) -> str:
    """The profile id the URL names, or :class:`PreflightFailed` saying what the URL lacks."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise PreflightFailed(f"--url {url!r} is not an https:// URL")
    servlet = parts.path.rstrip("/").rpartition("/")[2]
    if not (servlet.startswith("profileSubmit") and "CMC" in servlet):
        raise PreflightFailed(
            f"--url {url!r} names no CMC servlet; it ends in one such as /ca/ee/ca/profileSubmitCMCFull or "
            "/ca/ee/ca/profileSubmitUserSignedCMCFull"
        )
    profiles = [value for value in parse_qs(parts.query).get("profileId", []) if value]
    if len(profiles) != 1:
        raise PreflightFailed(
            f"--url {url!r} names {'no' if not profiles else 'more than one'} profile; add one "
            "?profileId=PROFILE (for example caFullCMCUserCert)"
        )
    return profiles[0]


def check_ca(rest: DogtagRest, url: str, *, client_certificate: bool) -> ProfileFacts:
    """Steps 2 and 3: reach the CA over the verified connection and learn what it says of the profile."""
    from agent.rest import RestBadRequest, RestError, RestForbidden, RestNotFound
    from agent.transport import CAUnreachable

    profile_id = check_url(url)
    try:
        try:
            profile = rest.profile(profile_id)
            return ProfileFacts(
                profile_id, True, profile.enabled, profile.key_constraints, "the profile's definition"
            )
        except RestForbidden:
            pass  # an end entity: Dogtag shows profile definitions to agents only
        except RestNotFound as exc:
            if (exc.dogtag_class or "").endswith("ProfileNotFoundException"):
                raise PreflightFailed(
                    f"the CA has no profile {profile_id!r} (--url ...?profileId=); nothing was generated"
                ) from None
            return ProfileFacts(profile_id, None, None, (), "nothing: the CA offers no Dogtag REST API")
        try:
            rest.enrollment_template(profile_id)
        except RestBadRequest as exc:
            if "not found" in str(exc).lower():
                raise PreflightFailed(
                    f"the CA has no profile {profile_id!r} (--url ...?profileId=); nothing was generated"
                ) from None
            raise
        listed = {info.profile_id: info for info in rest.profiles()}
        info = listed.get(profile_id)
        enabled = info.enabled if info is not None else None
        return ProfileFacts(profile_id, True, enabled, (), "its enrollment template")
    except CAUnreachable as exc:
        text = str(exc)
        if client_certificate and any(
            words in text.lower() for words in (*CLIENT_CERTIFICATE_REFUSED, *HANDSHAKE_CLOSED)
        ):
            raise PreflightFailed(
                f"the CA refused our TLS client certificate ({text}); check --agent-cert/--signer-cert and "
                "their keys; nothing was generated"
            ) from None
        raise PreflightFailed(f"{text}; nothing was generated") from None
    except RestError as exc:
        return ProfileFacts(profile_id, None, None, (), f"nothing ({exc})")


def check_before_key(
    rest: DogtagRest, url: str, *, client_certificate: bool, key_type: str | None
) -> ProfileFacts:
    """All the checks; ``key_type`` is the type of the key to be made (or used), when known."""
    facts = check_ca(rest, url, client_certificate=client_certificate)
    if facts.enabled is False:
        raise PreflightFailed(
            f"profile {facts.profile_id!r} is disabled at the CA; ask its administrator to enable it, or "
            "use another profile; nothing was generated"
        )
    if key_type is not None:
        refusal = facts.refusal_for(key_type)
        if refusal is not None:
            raise PreflightFailed(f"{refusal}; give --type accordingly; nothing was generated")
    return facts


def describe(facts: ProfileFacts, url: str) -> str:
    """The step line of a pre-flight that passed."""
    said = []
    if facts.enabled:
        said.append("enabled")
    for constraint in facts.key_constraints:
        kinds = "any key" if constraint.key_type == "-" else f"{constraint.key_type} keys"
        said.append(
            f"takes {kinds}" + (f" ({', '.join(constraint.parameters)})" if constraint.parameters else "")
        )
    about = ", ".join(said) if said else ("exists" if facts.exists else "not checked")
    return (
        f"pre-flight: {urlsplit(url).netloc} answers and verifies against --ca-cert; profile "
        f"{facts.profile_id} {about} (from {facts.source})"
    )
