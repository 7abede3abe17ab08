"""Errors of the device layer, one class per failure a user can act on.

python-pkcs11 raises one exception per ``CKR_*`` code; those say what the module answered, not what the
user should do. Every public function in :mod:`tokens` translates them into these classes, whose messages
name the token, the object and the way out. ``user_facing`` lets the CLI print them as one line.
"""

from __future__ import annotations


class TokenError(Exception):
    """Base class of every device-layer error."""

    user_facing = True


class InvalidUri(TokenError):
    """A ``pkcs11:`` URI does not parse or carries an attribute we cannot use.

    RFC 7512 form: ``pkcs11:token=LABEL;object=KEY;type=private?module-path=/path/lib.so``. Reserved
    characters inside values are percent-encoded (``%20`` for a space, ``%3B`` for ``;``).
    """


class ModuleNotFound(TokenError):
    """The PKCS#11 module (shared library) is missing or could not be loaded.

    Give its path with ``module-path=`` in the URI, or install it (``make system`` installs SoftHSM2,
    OpenSC and NSS).
    """


class TokenNotFound(TokenError):
    """No token matches the URI's token attributes. The message lists the tokens that were found."""


class PinUnavailable(TokenError):
    """The token needs a PIN and no PIN source was given.

    Use ``--pin-file FILE``, ``--pin-env NAME``, ``pin-source=file:PATH`` in the URI, or run on a terminal
    to be prompted. PINs are never taken from the command line.
    """


class PinIncorrect(TokenError):
    """The token refused the PIN. Check the PIN file or variable; repeated failures may lock the token."""


class PinLocked(TokenError):
    """The token's user PIN is locked after too many wrong tries. The security officer must unlock it."""


class KeyNotFound(TokenError):
    """No private key matches the URI's object attributes (``object=``, ``id=``) on the token."""


class AmbiguousObject(TokenError):
    """More than one object matches; add ``id=`` or a more specific ``object=`` to the URI."""


class ObjectExists(TokenError):
    """An object with that label or id already exists on the token; choose another label."""


class MechanismNotSupported(TokenError):
    """The token does not offer a mechanism the operation needs. The message names both."""


class DeviceRemoved(TokenError):
    """The device or token went away during the operation (card pulled, HSM gone). Reconnect, retry."""


class OperationFailed(TokenError):
    """The device refused an operation for a reason not covered by a more specific class."""


class CertificateMismatch(TokenError):
    """A certificate's public key matches no private key on the token, so it cannot be bound to one."""


class InvalidCertificate(TokenError):
    """A certificate file could not be read as PEM, DER or a PKCS#7 chain."""
