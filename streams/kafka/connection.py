"""How every Kafka client of the hub reaches the broker: its address and its security
(SASL and TLS, `streams.config.KafkaSecurity`), as the keyword arguments of aiokafka's
clients and as the Faust app's `broker_credentials`, so that the worker, the SDK, the CLI
and every reader the hub keeps use the same settings.

```python
connection = KafkaConnection.of(settings)
consumer = AIOKafkaConsumer(topic, **connection.client_options(), group_id=None)
```

When a client cannot start, aiokafka only logs why and raises "Unable to bootstrap", the
error of an unreachable broker, which callers retry (topic creation for a minute, the
readers for ever): `start_client` starts a client and, when it cannot, asks the broker
once more directly, so that a wrong password or a missing TLS setting is a clear
`KafkaAccessError` at once: topic creation, and with it the worker's start, the SDK and
the CLI stop on it instead of retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from aiokafka import errors
from aiokafka.conn import create_conn
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from streams.config import KafkaSecurity, Settings

__all__ = ["KafkaAccessError", "KafkaConnection", "start_client"]


class KafkaAccessError(Exception):
    """The broker refused this client (authentication or TLS): retrying cannot help."""


@dataclass(frozen=True)
class KafkaConnection:
    """A broker's bootstrap servers and how to authenticate to it."""

    bootstrap: str
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    @classmethod
    def of(cls, target: KafkaConnection | Settings | str) -> KafkaConnection:
        """The connection of `target`: settings (their broker and security), a connection
        (itself), or bootstrap servers alone (PLAINTEXT)."""
        if isinstance(target, KafkaConnection):
            return target
        if isinstance(target, Settings):
            return cls(target.bootstrap_servers, target.kafka_security)
        return cls(target)

    def __str__(self) -> str:
        return self.bootstrap

    @property
    def hosts(self) -> list[tuple[str, int]]:
        """(host, port) of each bootstrap server (port 9092 when none is given)."""
        found = []
        for server in (s.strip() for s in self.bootstrap.split(",")):
            if server.startswith("["):  # [IPv6]:port
                host, _, port = server[1:].partition("]")
                port = port.lstrip(":")
            elif server.count(":") == 1:
                host, _, port = server.partition(":")
            else:
                host, port = server, ""
            if host:
                found.append((host, int(port) if port.isdigit() else 9092))
        return found

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every client (None without TLS): the CA file given, else the
        system's CAs; the client certificate if given. Host names are checked."""
        security = self.security
        if not security.tls:
            return None
        return create_ssl_context(
            cafile=security.ssl_cafile,
            certfile=security.ssl_certfile,
            keyfile=security.ssl_keyfile,
        )

    def security_options(self) -> dict[str, Any]:
        """aiokafka's security keyword arguments (every client takes them)."""
        security = self.security
        options: dict[str, Any] = {"security_protocol": security.protocol}
        if security.tls or security.sasl:
            options["ssl_context"] = self.ssl_context  # None for SASL_PLAINTEXT, as Faust's
        if security.sasl:
            options["sasl_mechanism"] = security.sasl_mechanism
            options["sasl_plain_username"] = security.sasl_username
            options["sasl_plain_password"] = security.sasl_password
        return options

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments of an aiokafka consumer, producer or admin client:
        `bootstrap_servers` and the security ones."""
        return {"bootstrap_servers": self.bootstrap, **self.security_options()}

    def faust_credentials(self) -> CredentialsT | None:
        """The Faust app's `broker_credentials`: Faust hands SASL credentials (with their
        TLS context for SASL_SSL) and TLS contexts to aiokafka as `client_options` does."""
        security = self.security
        if security.sasl:
            return SASLCredentials(
                username=security.sasl_username,
                password=security.sasl_password,
                mechanism=security.sasl_mechanism,
                ssl_context=self.ssl_context,  # None: SASL_PLAINTEXT
            )
        if security.tls:
            return SSLCredentials(self.ssl_context)
        return None

    def faust_options(self) -> dict[str, Any]:
        """The Faust app's `broker` and `broker_credentials`."""
        return {
            "broker": f"kafka://{self.bootstrap}",
            "broker_credentials": self.faust_credentials(),
        }

    async def refusal(self, timeout: float = 10.0) -> KafkaAccessError | None:
        """Why the broker refuses this client, when it is a matter of authentication or
        TLS; None when a broker answers it, or when none can be reached (the network:
        worth retrying)."""
        security = self.security
        for host, port in self.hosts:
            where = f"the Kafka broker at {host}:{port}"
            try:
                async with asyncio.timeout(timeout):
                    conn = await create_conn(
                        host,
                        port,
                        request_timeout_ms=int(timeout * 1000),
                        **self.security_options(),
                    )
            except errors.IllegalSaslStateError:
                return KafkaAccessError(
                    f"{where} does not take SASL authentication on this listener, while "
                    f"TOUCHLINE_KAFKA_SECURITY_PROTOCOL is {security.protocol}"
                )
            except errors.UnsupportedSaslMechanismError:
                return KafkaAccessError(
                    f"Kafka authentication failed: {where} does not enable "
                    f"{security.sasl_mechanism}; check TOUCHLINE_KAFKA_SASL_MECHANISM"
                )
            except errors.SaslAuthenticationFailed as exc:
                detail = str(exc.args[0]) if exc.args else "invalid credentials"
                return KafkaAccessError(
                    f"Kafka authentication failed: {where} refused user "
                    f"{security.sasl_username!r} with {security.sasl_mechanism} ({detail}); "
                    "check TOUCHLINE_KAFKA_SASL_USERNAME and TOUCHLINE_KAFKA_SASL_PASSWORD"
                )
            except ssl.SSLError as exc:
                return KafkaAccessError(
                    f"TLS handshake with {where} failed ({exc.reason or exc}): check "
                    "TOUCHLINE_KAFKA_SSL_CAFILE, that the broker's certificate names this "
                    "host, and that this listener speaks TLS"
                )
            except (OSError, TimeoutError, errors.KafkaError):
                if not security.tls and await _speaks_tls(host, port, timeout):
                    return KafkaAccessError(
                        f"{where} expects TLS, while TOUCHLINE_KAFKA_SECURITY_PROTOCOL is "
                        f"{security.protocol}: use SSL or SASL_SSL (with "
                        "TOUCHLINE_KAFKA_SSL_CAFILE) for this listener"
                    )
                continue
            try:
                # The broker answers ApiVersions before authentication: ask for metadata.
                await conn.send(MetadataRequest([]))
            except (OSError, TimeoutError, errors.KafkaError) as exc:
                # A closed connection, not a slow broker: SASL listeners close it.
                if not security.sasl and isinstance(exc, errors.KafkaConnectionError):
                    return KafkaAccessError(
                        f"{where} closed the connection before answering: it may require "
                        "SASL authentication, while TOUCHLINE_KAFKA_SECURITY_PROTOCOL is "
                        f"{security.protocol} (use SASL_SSL or SASL_PLAINTEXT)"
                    )
                continue
            finally:
                conn.close()
            return None
        return None


async def _speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether host:port completes a TLS handshake (whoever its certificate names)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
        async with asyncio.timeout(1):
            await writer.wait_closed()
    return True


class _Client(Protocol):
    async def start(self) -> Any: ...


async def start_client(client: _Client, connection: KafkaConnection) -> None:
    """`await client.start()` (an aiokafka consumer, producer or admin client of
    `connection`); when the broker refuses the client's credentials or TLS, raises
    KafkaAccessError saying so, instead of aiokafka's "Unable to bootstrap". The caller
    still stops the client."""
    try:
        await client.start()
    except errors.KafkaConnectionError as exc:
        refused = await connection.refusal()
        if refused is not None:
            raise refused from exc
        raise
