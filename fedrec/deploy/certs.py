"""Certificates and node keys for a deployment, made with ``cryptography``.

- A private CA (``ca.pem``, ``ca.key``), and the SuperLink's certificate signed by it
  (``superlink.pem``, ``superlink.key``) with subject alternative names for every
  host and IP the SuperNodes and the operator reach it by. SuperNodes and ``flwr``
  verify the SuperLink against ``ca.pem``.
- One EC key pair per SuperNode on a NIST curve (P-384), the private key in PEM and
  both in OpenSSH format: ``flower-supernode --auth-supernode-private-key`` reads the
  private key, ``flwr supernode register`` takes the public key.

Private keys are written with mode 0600. Nothing here is ever committed: the
files live in the deployment directory the operator names.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: How long generated certificates are valid.
VALID_DAYS = 365


@dataclass(frozen=True)
class ServerCertificates:
    """Where the CA and the SuperLink's certificate and key are."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class NodeKeys:
    """A SuperNode's key pair: the private key (PEM) and the public key (OpenSSH)."""

    private: Path
    public: Path


def _write_private(
    path: Path,
    key: ec.EllipticCurvePrivateKey,
    form: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fedrec deployment"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def make_server_certificates(
    directory: str | Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")
) -> ServerCertificates:
    """Write a new CA and a SuperLink certificate for ``hosts`` (names or IPs) into
    ``directory``; an existing set there is replaced."""
    if not hosts:
        raise ValueError("the SuperLink certificate needs at least one host name or IP")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = _name("fedrec deployment CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = ServerCertificates(out / "ca.pem", out / "superlink.pem", out / "superlink.key")
    _write_private(out / "ca.key", ca_key)
    _write_private(paths.key, key)
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths


def make_node_keys(directory: str | Path, name: str) -> NodeKeys:
    """Write a SuperNode key pair ``<name>.key`` / ``<name>.pub`` into ``directory``."""
    out = Path(directory)
    key = ec.generate_private_key(ec.SECP384R1())
    keys = NodeKeys(out / f"{name}.key", out / f"{name}.pub")
    _write_private(keys.private, key, serialization.PrivateFormat.OpenSSH)  # what Flower reads
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    keys.public.write_bytes(public + b"\n")
    return keys
