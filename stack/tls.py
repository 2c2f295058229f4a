"""HTTPS for the HTTP API: on whenever it listens beyond loopback (``[network] tls``).

The certificate and key are ``[network] tls_cert`` / ``tls_key`` when given; otherwise a
self-signed pair is generated on first start into ``<state_dir>/secrets/tls.crt`` and
``tls.key`` (mode 0600), valid for this machine's name, ``localhost``, 127.0.0.1, ::1 and
the bind address. Replacing those two files (or pointing the settings at others) and
restarting the core replaces the certificate.

Local clients of the stack (`hotline up`'s health wait, `hotline status`) trust exactly the
configured or generated certificate, nothing else.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

from hotline_core.config_errors import ConfigError
from stack.secret_files import write_secret_file
from stack.settings import Settings

VALID_DAYS = 3650


def certificate_files(settings: Settings) -> tuple[Path, Path]:
    """(certificate, key): the configured pair, or where the generated one lives."""
    if settings.tls_cert is not None and settings.tls_key is not None:
        return settings.tls_cert, settings.tls_key
    folder = settings.state_dir / "secrets"
    return folder / "tls.crt", folder / "tls.key"


def check_certificate(settings: Settings) -> None:
    """A configured pair must exist and belong together; stops start-up otherwise."""
    if not settings.https or settings.tls_cert is None or settings.tls_key is None:
        return
    for name, path in (("network.tls_cert", settings.tls_cert),
                       ("network.tls_key", settings.tls_key)):
        if not path.is_file():
            raise ConfigError(settings.source, name, f"{path}: file not found")
    _load_pair(settings, settings.tls_cert, settings.tls_key)


def ensure_certificate(settings: Settings) -> tuple[Path, Path]:
    """The pair to serve; generates the self-signed one when none is configured or present."""
    cert, key = certificate_files(settings)
    if settings.tls_cert is None and not (cert.is_file() and key.is_file()):
        cert_pem, key_pem = self_signed_pair(_names(settings))
        # Key first: once the certificate file exists, its key is in place too.
        write_secret_file(key, key_pem, replace=True)
        write_secret_file(cert, cert_pem, replace=True)
    return cert, key


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The SSL context of the HTTP site, or None when HTTP stays plain (loopback)."""
    if not settings.https:
        return None
    cert, key = ensure_certificate(settings)
    return _load_pair(settings, cert, key)


def client_context(settings: Settings) -> ssl.SSLContext | None:
    """For the stack's own HTTPS clients: trusts the served certificate only."""
    if not settings.https:
        return None
    cert, _key = certificate_files(settings)
    ctx = ssl.create_default_context(cafile=str(cert))
    # The certificate itself is the trust anchor, also when it is not a CA (a leaf from a
    # public CA that the operator configured).
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if settings.tls_cert is not None:
        # An operator's certificate names the public host, not the loopback address the
        # local checks connect to; the pinned certificate is what is verified.
        ctx.check_hostname = False
    return ctx


def self_signed_pair(names: tuple[list[str], list[str]]) -> tuple[str, str]:
    """(certificate PEM, key PEM) of a new self-signed P-256 pair for DNS names and IPs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    dns_names, ips = names
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hotline12345")])
    now = datetime.datetime.now(datetime.UTC)
    alt = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(a))
                                                   for a in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def _names(settings: Settings) -> tuple[list[str], list[str]]:
    dns = ["localhost"]
    host = socket.gethostname()
    if host and host.isascii() and host != "localhost":
        dns.insert(0, host)
    ips = ["127.0.0.1", "::1"]
    if settings.bind_address not in ("0.0.0.0", "::", *ips):
        ips.append(settings.bind_address)
    return dns, ips


def _load_pair(settings: Settings, cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(settings.source, "network.tls_cert",
                          f"{cert} with key {key} cannot be used: {exc}") from exc
    return ctx
