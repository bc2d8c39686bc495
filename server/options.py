"""How ``rag serve`` faces the network: the host names it answers to, the proxy it trusts, HTTPS, offered answerers.

These belong to the server, not to the library, so they live here rather than in ``rag.Settings``. Each has
a flag and an environment variable (flags win); lists are repeatable flags or comma-separated variables:

* ``--allowed-host NAME`` / ``RAG_ALLOWED_HOSTS``: host names the server answers to besides ``localhost``, IP
  addresses and the name ``--host`` binds to. Any other ``Host`` header is refused (DNS rebinding: a page on
  ``attacker.example`` resolved to this machine reaches it under that name). ``*.example.org`` allows a domain.
* ``--trusted-proxy ADDR`` / ``RAG_TRUSTED_PROXIES``: addresses or networks of the reverse proxy in front.
  Only a request from one of them may say who the client is (``X-Forwarded-For``, ``X-Forwarded-Proto``).
* ``--https-proxy`` / ``RAG_HTTPS_PROXY=1``: TLS ends at a proxy in front, so cookies are ``Secure`` even though
  requests arrive over plain HTTP.
* ``--chat-answerer NAME[:MODEL]`` / ``RAG_CHAT_ANSWERERS``: the answerers the chat's readers may pick from,
  besides the server's own (``--answerer``/``--model``). Nothing else can be chosen from the page.

Kept free of heavy imports: ``rag serve`` checks these before loading a model.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.errors import ConfigError

__all__ = ["ServeOptions"]

_HOST_NAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _host(name: str) -> str:
    host = name.strip().lower().rstrip(".")
    if not _HOST_NAME.match(host):
        raise ConfigError(
            f"--allowed-host {name!r} is not a host name (letters, digits, '-' and dots; '*.example.org' for a domain)"
        )
    return host


def _proxy(address: str) -> str:
    try:
        return str(ipaddress.ip_network(address.strip(), strict=False))
    except ValueError:
        raise ConfigError(
            f"--trusted-proxy {address!r} is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)"
        ) from None


def _listed(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


@dataclass(frozen=True)
class ServeOptions:
    """The network-facing options of ``rag serve`` (see the module docstring); the defaults are the safe ones."""

    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    https_proxy: bool = False
    chat_answerers: tuple[str, ...] = ()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        allowed_hosts: Sequence[str] | None = None,
        trusted_proxies: Sequence[str] | None = None,
        https_proxy: bool | None = None,
        chat_answerers: Sequence[str] | None = None,
    ) -> ServeOptions:
        """Options from ``RAG_*`` variables, each replaced by its flag's values when given (None: not given).

        Raises:
            ConfigError: A host that is not a host name, a proxy that is not an address, an unknown answerer.
        """
        environ = os.environ if environ is None else environ
        hosts = list(allowed_hosts) if allowed_hosts else _listed(environ.get("RAG_ALLOWED_HOSTS"))
        proxies = list(trusted_proxies) if trusted_proxies else _listed(environ.get("RAG_TRUSTED_PROXIES"))
        answerers = list(chat_answerers) if chat_answerers else _listed(environ.get("RAG_CHAT_ANSWERERS"))
        if https_proxy is None:
            https_proxy = environ.get("RAG_HTTPS_PROXY", "").strip().lower() in {"1", "true", "yes", "on"}
        if answerers:  # checked now, before any model loads (the chat's own parser)
            from ui.answerer_choice import parse_choice

            for entry in answerers:
                parse_choice(entry)
        return cls(
            allowed_hosts=tuple(dict.fromkeys(_host(h) for h in hosts)),
            trusted_proxies=tuple(dict.fromkeys(_proxy(p) for p in proxies)),
            https_proxy=https_proxy,
            chat_answerers=tuple(dict.fromkeys(a.strip() for a in answerers)),
        )

    def answering_to(self, bind_host: str) -> ServeOptions:
        """These options with the name ``--host`` binds to allowed too (an address needs no allowing)."""
        name = bind_host.strip().lower().rstrip(".")
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            if _HOST_NAME.match(name) and name not in self.allowed_hosts:
                return dataclasses.replace(self, allowed_hosts=(*self.allowed_hosts, name))
        return self

    def as_flags(self) -> list[str]:
        """These options as ``rag serve`` flags (to start workers with the same ones)."""
        flags = [part for host in self.allowed_hosts for part in ("--allowed-host", host)]
        flags += [part for proxy in self.trusted_proxies for part in ("--trusted-proxy", proxy)]
        flags += [part for entry in self.chat_answerers for part in ("--chat-answerer", entry)]
        return flags + (["--https-proxy"] if self.https_proxy else [])
