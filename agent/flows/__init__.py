"""Flows: whole CMC conversations (build, submit, read, answer, import) as resumable state machines.

The top I/O floor of ``agent``: flows compose the request builders, the response reader and a transport,
and record how far they got so that an interrupted run can continue. Devices and HTTPS reach a flow as
small injected pieces (a signer, a ``post`` callable, a certificate store), so flows never import
python-pkcs11 and can be driven by any key that satisfies :mod:`agent.keyops`.
"""
