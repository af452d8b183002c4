"""Redis with ACL users and TLS (``rediss://``) in ``REDIS_URL``: real servers, a real worker, no password in logs."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mt5_worker.cli.devstack import RedisServer, free_port, redis_server_binary
from mt5_worker.client import MT5Client
from mt5_worker.credentials import hide_url_password
from mt5_worker.settings import Settings
from mt5_worker.simulator import DEMO_ACCOUNTS
from tests.celery_fixtures import Stack

pytestmark = pytest.mark.integration  # starts processes of its own (subprocesses, servers), not through fixtures

A = DEMO_ACCOUNTS[0]
ACL_PASSWORD = "acl-Pa55-7c1e9"
# One user with every right; the passwordless default user off, so an anonymous client is refused.
ACL_ARGS = ("--user", "default", "off", "--user", "mt5", "on", f">{ACL_PASSWORD}", "~*", "&*", "+@all")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "redis.crt", directory / "redis.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def server_dir(tmp_path: Path) -> Path:
    path = tmp_path / "redis"  # apart from the stack's logs, which the tests scan
    path.mkdir()
    return path


@pytest.fixture
def acl_redis(server_dir: Path) -> Iterator[RedisServer]:
    port = free_port()
    server = RedisServer(server_dir, port, ACL_ARGS, f"redis://mt5:{ACL_PASSWORD}@127.0.0.1:{port}/0").start()
    yield server
    server.stop()


@pytest.fixture
def tls_acl_redis(server_dir: Path) -> Iterator[tuple[RedisServer, Path]]:
    if b"tls-port" not in Path(redis_server_binary()).read_bytes():
        pytest.skip("this redis-server was built without TLS")
    cert, key = self_signed(server_dir)
    port = free_port()
    tls = ("--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
           "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no")  # fmt: skip
    url = f"rediss://mt5:{ACL_PASSWORD}@127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={cert}"
    server = RedisServer(server_dir, port, (*tls, *ACL_ARGS), url).start()
    yield server, cert
    server.stop()


def serve_one_request(server: RedisServer, log_dir: Path) -> Stack:
    """A worker and a client on ``server.url``: one account_info call end to end; the stack, for its logs."""
    stack = Stack(server.url, log_dir)
    try:
        stack.worker()
        client = MT5Client(app=stack.app, settings=stack.settings())
        assert A.login == client.account_info(A.login, A.server, A.password.get_secret_value(), timeout=30)["login"]
        assert A.login == client.account_info(A.login, timeout=30)["login"]  # pooled: routed via the session store
        client.close()
    finally:
        stack.close()
    return stack


def test_acl_user_and_password_in_redis_url(acl_redis: RedisServer, tmp_path: Path) -> None:
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=acl_redis.port).ping()  # the anonymous default user is off

    logs = serve_one_request(acl_redis, tmp_path).logs()
    assert "mt5:**@127.0.0.1" in logs  # Celery's banner names the broker, masked
    assert ACL_PASSWORD not in logs


def test_rediss_tls_with_acl_in_redis_url(tls_acl_redis: tuple[RedisServer, Path], tmp_path: Path) -> None:
    server, _cert = tls_acl_redis
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=server.port, socket_timeout=2).ping()  # plaintext: no such port
    untrusting = f"rediss://mt5:{ACL_PASSWORD}@127.0.0.1:{server.port}/0?ssl_cert_reqs=required"
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        redis.Redis.from_url(untrusting).ping()  # the certificate is checked: only ours is trusted

    logs = serve_one_request(server, tmp_path).logs()
    assert "rediss://mt5:**@127.0.0.1" in logs
    assert ACL_PASSWORD not in logs


def test_settings_show_redis_urls_without_their_password() -> None:
    url = f"rediss://mt5:{ACL_PASSWORD}@redis.internal:6380/0?ssl_cert_reqs=required"
    settings = Settings.load(_env_file=None, redis_url=url, celery_broker_url="redis://:pw-only@h/1")
    assert (url, "redis://:pw-only@h/1") == (settings.redis_url, settings.broker_url)  # used as given
    shown = settings.model_dump_json()
    assert ACL_PASSWORD not in shown and "pw-only" not in shown
    assert "rediss://mt5:**@redis.internal:6380/0?ssl_cert_reqs=required" in shown
    assert "redis://127.0.0.1:6379/0" == hide_url_password("redis://127.0.0.1:6379/0")
