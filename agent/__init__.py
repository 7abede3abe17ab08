"""cmc-agent: CMC (RFC 5272/6402) enrollment for Dogtag PKI with private keys on PKCS#11 devices.

Floors, bottom to top: ``agent.cmc`` ASN.1 structures (pure) -> builders and readers (crypto through the
:mod:`agent.keyops` interfaces) -> transport and flows (I/O) -> ``agent.cli``.
"""
