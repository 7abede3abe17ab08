"""Dogtag-compatible commands: ``CMCRequest``, ``HttpClient``, ``CMCResponse``, ``PKCS10Client``,
``CRMFPopClient``, ``CMCSharedToken``, ``CMCRevoke`` and ``cmc-agent client-cert-import``.

They read Dogtag's config files and options and print Dogtag's key lines, so a Dogtag user's files and
habits keep working, but every key stays on its PKCS#11 device and the builders, reader, transport and
device layer underneath are this project's. One module per tool (``cmcrequest``, ``httpclient``,
``cmcresponse``, ``pkcs10client``, ``crmfpopclient``, ``cmcsharedtoken``, ``cmcrevoke``,
``certimport``), and the pieces they share:

* :mod:`~agent.compat.configfile`: both config syntaxes (CMCRequest's lines, ``java.util.Properties``);
* :mod:`~agent.compat.requestconfig`: CMCRequest's keys translated into builder calls;
* :mod:`~agent.compat.b64`: Dogtag's base-64 and PEM layout;
* :mod:`~agent.compat.tool`: the error type, secrets from files/variables/prompts, ``main``;
* :mod:`~agent.compat.dogtagdb`: ``dbdir`` + ``tokenname`` + nickname or key id to device objects;
* :mod:`~agent.compat.trust`: the CA certificates a database trusts, plus a file;
* :mod:`~agent.compat.keygen`: PKCS10Client's and CRMFPopClient's key options;
* :mod:`~agent.compat.certprint`: certificates and names printed as JSS prints them.

Deliberate differences from the Java tools are listed in the README ("Dogtag-compatible commands").
"""
