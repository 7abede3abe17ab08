"""localca: a Dogtag-compatible CMC CA over HTTPS, for development, the demo and CI.

It behaves as the Dogtag CA does on the paths of ``dogtag-cmc-server.md``: the same endpoints, checks
in the same order, response structures, failInfo and status strings (Dogtag's bugs included where a
client has to live with them). Quick start::

    cmc-localca init DIR                      # CA, TLS, KRA transport and issuance protection certs
    cmc-localca agent add DIR --csr agent.csr --out agent.pem
    cmc-localca shared-token add DIR --uid jdoe --secret-file secret.txt
    cmc-localca serve DIR --port 8443         # prints "listening on https://127.0.0.1:8443"

Clients trust ``DIR/ca.pem`` and post raw DER to ``/ca/ee/ca/profileSubmitCMCFull`` (and the other
paths of :data:`localca.pipeline.ENDPOINTS`), optionally with ``?profileId=``.

Layers, each module one job: ``config``/``cadir``/``store``/``profiles`` (state), ``issuer``/``policy``/
``extensions`` (certificates), ``cms``/``authn``/``identity``/``pop``/``parsecmc`` (reading requests),
``controls``/``revocation``/``responses`` (answers), ``kra``/``sharedtoken``, ``pipeline`` (the servlet),
``server`` (HTTP) and ``cli``. It uses ``agent``'s ASN.1 types and CMS builder; nothing in ``agent`` or
``tokens`` imports it.
"""
