"""Optional bearer-token authentication for the inference routes.

Tokens come from a file (one per line; blank lines and ``#`` comments ignored), normally
mounted from a Kubernetes Secret delivered by External Secrets, so no token is in git. The
file is re-read when it changes, so a rotated Secret takes effect without a restart.
Comparison is constant-time against every token, so timing reveals nothing about any of them.
"""

from __future__ import annotations

import hmac
import logging
import time
from pathlib import Path

from classifier.errors import Forbidden, Unauthorized

logger = logging.getLogger("classifier")

_RECHECK_EVERY_S = 5.0


def tokens_in(lines: list[str]) -> list[str]:
    """A token file's tokens: one per line, blank lines and `#` comments skipped."""
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


class TokenFile:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime_ns = -1
        self._checked_at = 0.0
        self._tokens: tuple[bytes, ...] = ()
        self._reload()
        if not self._tokens:
            raise ValueError(f"{path} holds no tokens")

    def check(self, authorization: str | None) -> None:
        """Raise Unauthorized without a bearer token, Forbidden with a wrong one."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("this route needs an `Authorization: Bearer <token>` header")
        self._refresh()
        offered = authorization[7:].strip().encode()
        matched = False
        for token in self._tokens:  # no early exit: the time taken does not depend on a match
            matched |= hmac.compare_digest(offered, token)
        if not matched:
            raise Forbidden("the bearer token is not valid")

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked_at >= _RECHECK_EVERY_S:
            self._checked_at = now
            self._reload()

    def _reload(self) -> None:
        try:
            stat = self._path.stat()
            if stat.st_mtime_ns == self._mtime_ns:
                return
            lines = self._path.read_text().splitlines()
        except OSError as error:
            if self._tokens:  # keep serving with the tokens we have
                logger.error(
                    "cannot re-read the token file", extra={"event": "token_file_error", "error": str(error)}
                )
                return
            raise ValueError(f"cannot read the token file {self._path}: {error}") from None
        self._tokens = tuple(token.encode() for token in tokens_in(lines))
        self._mtime_ns = stat.st_mtime_ns
        logger.info("token file loaded", extra={"event": "tokens_loaded", "tokens": len(self._tokens)})
