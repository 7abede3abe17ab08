"""tokens: PKCS#11 devices behind one small interface.

SoftHSM2, NSS softokn databases, OpenSC smart cards and any PKCS#11 module, named by RFC 7512 ``pkcs11:``
URIs. Knows nothing of CMC. Import submodules directly; this package imports nothing heavy at start-up.
"""
