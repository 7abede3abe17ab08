"""CMC (RFC 5272/6402) for Dogtag: ASN.1 types, request builders and the response reader.

Floors, bottom up: :mod:`agent.cmc.asn1` (pure ASN.1), then builders and readers that sign and decrypt
only through the small protocols of :mod:`agent.keyops`. Nothing here does network I/O.

One job per module:

* ``asn1.cmc``, ``asn1.crmf`` — the RFC types; ``der`` — strict DER decoding; ``errors`` — what can fail;
* ``names`` — RFC 4514 subjects; ``algorithms`` — AlgorithmIdentifiers as Dogtag writes them;
  ``keyid`` — key identifiers; ``verify`` — software signature checks; ``chain`` — certificate paths;
* ``pkcs10``, ``crmf``, ``archive`` — certification requests and key-archival options;
* ``signeddata`` — CMS SignedData, built and verified; ``witness`` — identityProofV2,
  popLinkWitnessV2, thePOP; ``challenge`` — EncryptedPOP recovery on the device;
* ``pkidata`` — Full PKI Request builder; ``response`` — Full/Simple PKI Response reader;
  ``pkiresponse`` — the CA side's encoders (for the local CA and tests); ``pem`` — text armour.
"""
