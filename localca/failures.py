"""The ways a CMC request fails, each carrying what Dogtag puts in the failed status it answers with."""

from __future__ import annotations

from collections.abc import Sequence


class CMCFailure(Exception):
    """Answer with ``createFullResponseWithFailedStatus``: failed(2), ``body_list``, text and failInfo."""

    def __init__(self, fail_info: int, status_string: str | None, body_list: Sequence[int] = (0,)) -> None:
        super().__init__(status_string or f"failInfo {fail_info}")
        self.fail_info = fail_info
        self.status_string = status_string
        self.body_list = tuple(body_list)


class AuthenticationFailed(Exception):
    """The profile's authenticator refused the request; the text is Dogtag's exception text (badRequest)."""
