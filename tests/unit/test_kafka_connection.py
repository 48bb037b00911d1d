"""The Kafka security settings (TOUCHLINE_KAFKA_*) and what every client is given of them:
aiokafka's keyword arguments, and the Faust app's broker credentials."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.app import create_app
from streams.config import ConfigError, KafkaSecurity, Settings
from streams.kafka.connection import KafkaConnection, start_client

PASSWORD = "s3cret-pa55word"


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate (as a CA file and as a client certificate) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "touchline test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("pem")
    files = {"cert": folder / "cert.pem", "key": folder / "key.pem"}
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def env(**variables: str) -> dict[str, str]:
    return {f"TOUCHLINE_KAFKA_{name}": value for name, value in variables.items()}


def sasl_ssl(pem: dict[str, Path], **more: str) -> dict[str, str]:
    return env(
        SECURITY_PROTOCOL="SASL_SSL",
        SASL_MECHANISM="SCRAM-SHA-512",
        SASL_USERNAME="alice",
        SASL_PASSWORD=PASSWORD,
        SSL_CAFILE=str(pem["cert"]),
        **more,
    )


# -- the settings --------------------------------------------------------------------------


def test_plaintext_by_default() -> None:
    settings = Settings.from_env({"TOUCHLINE_BROKER": "kafka-1:9092"})
    assert settings.kafka_security == KafkaSecurity()
    connection = KafkaConnection.of(settings)
    assert connection.client_options() == {
        "bootstrap_servers": "kafka-1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert connection.faust_credentials() is None
    assert connection.faust_options() == {
        "broker": "kafka://kafka-1:9092",
        "broker_credentials": None,
    }


def test_sasl_ssl_settings(pem: dict[str, Path]) -> None:
    security = Settings.from_env(sasl_ssl(pem)).kafka_security
    assert security == KafkaSecurity(
        protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="alice",
        sasl_password=PASSWORD,
        ssl_cafile=pem["cert"].resolve(),
    )
    assert security.sasl and security.tls


def test_names_are_read_case_insensitively_and_scram_sha_512_is_the_default() -> None:
    security = KafkaSecurity.from_env(
        env(SECURITY_PROTOCOL="sasl_plaintext", SASL_USERNAME="alice", SASL_PASSWORD="x")
    )
    assert security.protocol == "SASL_PLAINTEXT"
    assert security.sasl_mechanism == "SCRAM-SHA-512"
    assert not security.tls
    plain = KafkaSecurity.from_env(
        env(
            SECURITY_PROTOCOL="SASL_PLAINTEXT",
            SASL_MECHANISM="plain",
            SASL_USERNAME="alice",
            SASL_PASSWORD="x",
        )
    )
    assert plain.sasl_mechanism == "PLAIN"


def test_the_password_is_taken_as_given() -> None:
    security = KafkaSecurity.from_env(
        env(SECURITY_PROTOCOL="SASL_PLAINTEXT", SASL_USERNAME="alice", SASL_PASSWORD=" a b ")
    )
    assert security.sasl_password == " a b "


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"SECURITY_PROTOCOL": "TLS"}, "TOUCHLINE_KAFKA_SECURITY_PROTOCOL"),
        (
            {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "GSSAPI"},
            "TOUCHLINE_KAFKA_SASL_MECHANISM",
        ),
        ({"SECURITY_PROTOCOL": "SASL_SSL"}, "TOUCHLINE_KAFKA_SASL_USERNAME"),
        (
            {"SECURITY_PROTOCOL": "SASL_PLAINTEXT", "SASL_USERNAME": "alice"},
            "TOUCHLINE_KAFKA_SASL_PASSWORD",
        ),
        # Credentials that would go unused: the protocol was forgotten.
        ({"SASL_USERNAME": "alice", "SASL_PASSWORD": "x"}, "TOUCHLINE_KAFKA_SASL_USERNAME"),
        ({"SECURITY_PROTOCOL": "SSL", "SASL_PASSWORD": "x"}, "TOUCHLINE_KAFKA_SASL_PASSWORD"),
        ({"SASL_MECHANISM": "PLAIN"}, "TOUCHLINE_KAFKA_SASL_MECHANISM"),
        ({"SSL_CAFILE": "{cert}"}, "TOUCHLINE_KAFKA_SSL_CAFILE"),
        (
            {"SECURITY_PROTOCOL": "SASL_PLAINTEXT", "SASL_USERNAME": "a", "SASL_PASSWORD": "x",
             "SSL_CERTFILE": "{cert}"},
            "TOUCHLINE_KAFKA_SSL_CERTFILE",
        ),
        ({"SECURITY_PROTOCOL": "SSL", "SSL_CAFILE": "/no/ca.pem"}, "TOUCHLINE_KAFKA_SSL_CAFILE"),
        (
            {"SECURITY_PROTOCOL": "SSL", "SSL_KEYFILE": "{key}"},
            "TOUCHLINE_KAFKA_SSL_KEYFILE",
        ),
    ],
)  # fmt: skip
def test_an_unusable_value_or_combination_names_the_variable(
    pem: dict[str, Path], variables: dict[str, str], named: str
) -> None:
    given = {k: v.format(cert=pem["cert"], key=pem["key"]) for k, v in variables.items()}
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env(**given))


def test_the_password_is_in_no_repr(pem: dict[str, Path]) -> None:
    settings = Settings.from_env(sasl_ssl(pem))
    connection = KafkaConnection.of(settings)
    credentials = connection.faust_credentials()
    for shown in (settings, settings.kafka_security, connection, credentials):
        assert PASSWORD not in repr(shown)
        assert PASSWORD not in str(shown)
    assert "alice" in repr(settings.kafka_security)


# -- what the clients are given --------------------------------------------------------


def test_sasl_ssl_client_options(pem: dict[str, Path]) -> None:
    connection = KafkaConnection.of(Settings.from_env(sasl_ssl(pem)))
    options = connection.client_options()
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice",
        "sasl_plain_password": PASSWORD,
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1  # the CA file, not the system's
    # One context for every client of the connection.
    assert connection.client_options()["ssl_context"] is context


def test_ssl_with_a_client_certificate(pem: dict[str, Path]) -> None:
    connection = KafkaConnection.of(
        Settings.from_env(
            env(
                SECURITY_PROTOCOL="SSL",
                SSL_CAFILE=str(pem["cert"]),
                SSL_CERTFILE=str(pem["cert"]),
                SSL_KEYFILE=str(pem["key"]),
            )
        )
    )
    options = connection.security_options()
    assert set(options) == {"security_protocol", "ssl_context"}
    assert options["security_protocol"] == "SSL"
    credentials = connection.faust_credentials()
    assert isinstance(credentials, SSLCredentials)
    assert credentials.context is options["ssl_context"]


def test_ssl_without_a_ca_file_trusts_the_system_cas() -> None:
    connection = KafkaConnection("kafka:9093", KafkaSecurity(protocol="SSL"))
    assert isinstance(connection.ssl_context, ssl.SSLContext)


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT", "SSL", "PLAINTEXT"])
def test_faust_hands_aiokafka_what_the_other_clients_get(
    pem: dict[str, Path], protocol: str
) -> None:
    variables = {"SECURITY_PROTOCOL": protocol}
    if protocol.startswith("SASL"):
        variables |= {"SASL_USERNAME": "alice", "SASL_PASSWORD": PASSWORD}
    if protocol.endswith("SSL"):
        variables["SSL_CAFILE"] = str(pem["cert"])
    connection = KafkaConnection.of(Settings.from_env(env(**variables)))
    credentials = connection.faust_credentials()
    if protocol.startswith("SASL"):
        assert isinstance(credentials, SASLCredentials)
    # How Faust's aiokafka driver builds its consumers' and producers' arguments.
    assert dict(credentials_to_aiokafka_auth(credentials)) == connection.security_options()


def test_the_app_and_its_readers_use_the_settings(pem: dict[str, Path], tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "TOUCHLINE_STORE": "memory://",
            "TOUCHLINE_BROKER": "127.0.0.1:9",
            "TOUCHLINE_DATA_DIR": str(tmp_path),
            **sasl_ssl(pem),
        }
    )
    app = create_app(settings)
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_plain_username"] == "alice"
    assert auth["sasl_plain_password"] == PASSWORD
    readers = [
        app.policy_book.bootstrap,
        app.dnc_book.bootstrap,
        app.web_parts.screen_pop_reader.bootstrap,
        app.web_parts.dial_list.bootstrap,
    ]
    for reader in readers:
        assert KafkaConnection.of(reader) == KafkaConnection.of(settings)


def test_a_string_is_a_plaintext_connection() -> None:
    connection = KafkaConnection.of("a:9092, b:9093,c,[::1]:9094")
    assert connection.security == KafkaSecurity()
    assert connection.hosts == [("a", 9092), ("b", 9093), ("c", 9092), ("::1", 9094)]
    assert KafkaConnection.of(connection) is connection
    assert str(connection) == "a:9092, b:9093,c,[::1]:9094"


# -- telling why the broker refuses a client --------------------------------------------


async def test_nothing_listening_is_not_a_refusal() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    assert await KafkaConnection(f"127.0.0.1:{port}").refusal(timeout=2) is None


async def test_a_plaintext_server_that_hangs_up_is_not_taken_for_tls() -> None:
    """The default PLAINTEXT client keeps retrying a broker that drops it (one starting or
    stopping): only a listener that completes a TLS handshake is called a TLS one."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await KafkaConnection(f"127.0.0.1:{port}").refusal(timeout=2) is None
    finally:
        server.close()
        await server.wait_closed()


async def test_a_tls_listener_is_named_to_a_plaintext_client(pem: dict[str, Path]) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pem["cert"], pem["key"])

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        refusal = await KafkaConnection(f"127.0.0.1:{port}").refusal(timeout=2)
        assert refusal is not None
        assert "expects TLS" in str(refusal)
        assert "TOUCHLINE_KAFKA_SECURITY_PROTOCOL is PLAINTEXT" in str(refusal)

        # A TLS client that does not trust the certificate is told so.
        untrusting = KafkaConnection(f"127.0.0.1:{port}", KafkaSecurity(protocol="SSL"))
        refusal = await untrusting.refusal(timeout=2)
        assert refusal is not None
        assert "TLS handshake" in str(refusal) and "CERTIFICATE_VERIFY_FAILED" in str(refusal)
    finally:
        server.close()
        await server.wait_closed()


async def test_start_client_passes_other_errors_through() -> None:
    from aiokafka.errors import KafkaConnectionError

    class Unreachable:
        async def start(self) -> None:
            raise KafkaConnectionError("Unable to bootstrap")

    with pytest.raises(KafkaConnectionError):
        await start_client(Unreachable(), KafkaConnection("127.0.0.1:9"))
