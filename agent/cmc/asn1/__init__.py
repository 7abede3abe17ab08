"""ASN.1 types for CMC (RFC 5272/6402) and CRMF (RFC 4211), as asn1crypto classes.

``from agent.cmc.asn1 import cmc, crmf``. Importing this package registers the CMC content types and
controls with asn1crypto (see :mod:`agent.cmc.asn1.cmc`). Pure data: no I/O, no cryptography.
"""

from agent.cmc.asn1 import cmc, crmf

__all__ = ["cmc", "crmf"]
