"""Data-use agreements travel with the data: text from a source whose licence keeps it on this
machine (MIMIC-CXR's PhysioNet credentialed licence forbids sending it through third-party
APIs) goes to no LLM endpoint but a local one.

Local means a loopback address (``localhost``, 127.0.0.0/8, ``::1``) or a host the user lists as
theirs (``--llm-local-host``, or ``MEDFORGET_LOCAL_HOSTS``, comma-separated). Names are not
resolved: a host is local because the user said so, not because a DNS answer says so. Anything
else is refused before a client is made, so no request is sent, unless the user acknowledges
that their agreement allows it (``--acknowledge-data-use``). The check runs where the data's
sources are known: the build (LLM QA and rephrasing) and ``medforget eval`` (the endpoint
adapter and the judge)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from medforget.llm.client import LLMError

LOCAL_HOSTS_ENV = "MEDFORGET_LOCAL_HOSTS"


class DataUseError(LLMError):
    """An LLM endpoint is not local, and the data's licence keeps its text on this machine."""


@dataclass(frozen=True)
class DataUse:
    """What the user allows beyond loopback: hosts they declare theirs, or, explicitly, any."""

    own_hosts: tuple[str, ...] = ()
    acknowledged: bool = False

    @classmethod
    def from_user(cls, hosts: Sequence[str] = (), acknowledged: bool = False) -> DataUse:
        """The hosts given (``--llm-local-host``) and those in ``$MEDFORGET_LOCAL_HOSTS``."""
        listed = [h.strip() for h in os.environ.get(LOCAL_HOSTS_ENV, "").split(",") if h.strip()]
        return cls(tuple(dict.fromkeys([*hosts, *listed])), acknowledged)

    def is_local(self, base_url: str) -> bool:
        host = (urlsplit(base_url).hostname or "").lower()
        if host == "localhost" or host in {h.lower() for h in self.own_hosts}:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:  # a name, not an address
            return False

    def check(self, base_url: str, local_only: Sequence[str], purpose: str) -> None:
        """Raise :class:`DataUseError` when ``base_url`` is not local, some source in
        ``local_only`` (named with its licence) keeps its text here, and the user did not
        acknowledge that their agreement allows this endpoint."""
        if not local_only or self.acknowledged or self.is_local(base_url):
            return
        host = urlsplit(base_url).hostname or base_url
        raise DataUseError(
            f"refusing to send {purpose} to {base_url}: the data comes from {', '.join(local_only)}, whose licence "
            f"keeps its text on this machine, and {host} is not local. Use an endpoint on loopback (make "
            f"llm-serve), list a server of your own with --llm-local-host {host} (or {LOCAL_HOSTS_ENV}), or pass "
            "--acknowledge-data-use if your data-use agreement allows this endpoint"
        )


#: the default: loopback alone is local, nothing acknowledged
LOOPBACK_ONLY = DataUse()
