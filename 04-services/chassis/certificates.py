"""The stage's own certificate authority and one certificate per service, for mutual TLS
between the services (chassis.grpc_server and chassis.grpc_client use them).

    python -m chassis.certificates var/04-services/certs   # what `make certs` runs

A folder holds `ca.pem` (the authority's certificate, which every process trusts),
`ca-key.pem` (its key, only needed to issue more) and `<service>.pem` / `<service>-key.pem`
for each identity: gateway, catalog, inventory, orders, payments. A service's certificate
names it (subject CN, and the DNS names `<service>` and `<service>-04` that docker-compose
gives its container, plus localhost and 127.0.0.1), and serves both ends of a call: the
server proves who it is to its caller, the caller to the server.

`ensure(folder, identity)` makes what is missing and keeps what is there, under a file lock,
so the processes of a stage starting together agree on one authority. The keys are ECDSA
P-256; the certificates last a year (run `make certs` again after deleting the folder).
"""

import contextlib
import datetime
import fcntl
import ipaddress
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IDENTITIES = ("gateway", "catalog", "inventory", "orders", "payments")
VALID_FOR = datetime.timedelta(days=365)


def ensure(folder: Path, identities: Iterable[str] = IDENTITIES) -> None:
    """The authority and a certificate for each identity in `folder`, made if missing.
    When nothing is missing the folder is only read (docker-compose mounts it read-only)."""
    identities = list(identities)
    needed = ["ca.pem", *(f"{identity}.pem" for identity in identities)]
    if all((folder / name).exists() for name in needed):
        return
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        if not (folder / "ca.pem").exists():
            _write_authority(folder)
        authority = _load_authority(folder)
        for identity in identities:
            if not (folder / f"{identity}.pem").exists():
                _write_identity(folder, identity, authority)


def read(folder: Path, identity: str) -> tuple[bytes, bytes, bytes]:
    """(the authority's certificate, the identity's key, its certificate), as PEM bytes."""
    return (
        (folder / "ca.pem").read_bytes(),
        (folder / f"{identity}-key.pem").read_bytes(),
        (folder / f"{identity}.pem").read_bytes(),
    )


def server_credentials(folder: str | Path, identity: str) -> grpc.ServerCredentials:
    """A server port's mutual TLS: it shows `identity`'s certificate, and takes only callers
    that show one of the stage's authority."""
    ensure(Path(folder), [identity])
    authority, key, certificate = read(Path(folder), identity)
    return grpc.ssl_server_credentials(
        [(key, certificate)], root_certificates=authority, require_client_auth=True
    )


def channel_credentials(folder: str | Path, identity: str) -> grpc.ChannelCredentials:
    """A channel's mutual TLS: it shows `identity`'s certificate, and trusts a server only if
    the stage's authority signed its certificate for the host the channel dials."""
    ensure(Path(folder), [identity])
    authority, key, certificate = read(Path(folder), identity)
    return grpc.ssl_channel_credentials(
        root_certificates=authority, private_key=key, certificate_chain=certificate
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shop workshop"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    """Write under a temporary name, then rename: a reader sees the whole file or none."""
    partial = path.with_name(f"{path.name}.partial")
    partial.write_bytes(data)
    if secret:
        partial.chmod(0o600)
    os.replace(partial, path)


def _write_authority(folder: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = _name("shop workshop services CA")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write(folder / "ca-key.pem", _key_pem(key), secret=True)
    _write(folder / "ca.pem", certificate.public_bytes(serialization.Encoding.PEM))


def _load_authority(folder: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = serialization.load_pem_private_key((folder / "ca-key.pem").read_bytes(), None)
    certificate = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    return key, certificate


def _write_identity(folder: Path, identity: str, authority) -> None:
    authority_key, authority_certificate = authority
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [
        x509.DNSName(identity),
        x509.DNSName(f"{identity}-04"),  # the container's name in docker-compose.yml
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(identity))
        .issuer_name(authority_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(authority_key, hashes.SHA256())
    )
    _write(folder / f"{identity}-key.pem", _key_pem(key), secret=True)
    _write(folder / f"{identity}.pem", certificate.public_bytes(serialization.Encoding.PEM))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m chassis.certificates FOLDER")
    target = Path(sys.argv[1]).resolve()
    ensure(target)
    print(f"certs: the authority and {', '.join(IDENTITIES)} in {target}")
