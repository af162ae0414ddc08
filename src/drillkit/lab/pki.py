"""Certificates and keys for one lab, generated with ``cryptography``.

A lab has its own CA. The API server gets a serving certificate for the loopback
names; every client (admin, the ``drillkit-runner`` identity, the controller
manager, the scheduler, kwok) gets its own client certificate, so RBAC sees
distinct users. Service-account tokens are signed with a separate key pair.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=3650)
_SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
_SERVING_IPS = ("127.0.0.1", "10.96.0.1")


@dataclass(frozen=True, kw_only=True)
class ClientIdentity:
    """A user the API server authenticates by certificate: CN is the user, O the groups."""

    file_stem: str
    user: str
    groups: tuple[str, ...] = ()


RUNNER_USER = "drillkit-runner"

# The identities every lab issues. ``drillkit-runner`` has no group: it can only
# do what deploy/rbac.yaml grants it.
CLIENT_IDENTITIES = (
    ClientIdentity(file_stem="admin", user="drillkit-admin", groups=("system:masters",)),
    ClientIdentity(file_stem="runner", user=RUNNER_USER),
    ClientIdentity(file_stem="controller-manager", user="system:kube-controller-manager"),
    ClientIdentity(file_stem="scheduler", user="system:kube-scheduler"),
    ClientIdentity(file_stem="kwok", user="drillkit-kwok", groups=("system:masters",)),
)


def ensure_pki(directory: Path, *, lab_name: str) -> None:
    """Create the lab's CA, serving and client certificates unless they already exist.

    Existing files are kept so that restarting a lab does not invalidate
    kubeconfigs users already hold.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.crt").exists():
        return
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"drillkit-lab-{lab_name}-ca")])
    ca_cert = (
        _builder(subject=ca_name, issuer=ca_name, public_key=ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    serving_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in _SERVING_DNS_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in _SERVING_IPS]
    serving_cert = (
        _builder(
            subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
            issuer=ca_name,
            public_key=serving_key.public_key(),
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_pair(directory, "apiserver", serving_key, serving_cert)

    for identity in CLIENT_IDENTITIES:
        _issue_client(directory, identity, ca_name, ca_key)

    service_account_key = ec.generate_private_key(ec.SECP256R1())
    _write_private_key(directory / "service-account.key", service_account_key)
    (directory / "service-account.pub").write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    # The CA goes last: its presence is what marks the directory as complete.
    _write_private_key(directory / "ca.key", ca_key)
    (directory / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))


def issue_client(directory: Path, identity: ClientIdentity) -> None:
    """Issue one more client certificate from the lab's CA (a real node's kubelet, the API
    server's client of kubelets), unless it exists."""
    if (directory / f"{identity.file_stem}.crt").exists():
        return
    ca_cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{directory / 'ca.key'} is not the EC key a lab's CA has")
    _issue_client(directory, identity, ca_cert.subject, ca_key)


def _issue_client(
    directory: Path,
    identity: ClientIdentity,
    ca_name: x509.Name,
    ca_key: ec.EllipticCurvePrivateKey,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in identity.groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, identity.user))
    cert = (
        _builder(subject=x509.Name(attributes), issuer=ca_name, public_key=key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_pair(directory, identity.file_stem, key, cert)


def _builder(
    *, subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Back-dated a little so a freshly started component never sees "not yet valid".
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_pair(
    directory: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> None:
    _write_private_key(directory / f"{stem}.key", key)
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def write_kubeconfig(
    path: Path, server: str, pki: Path, users: dict[str, str], *, current: str
) -> None:
    """Write a kubeconfig (mode 0600) with one cluster and a context per ``{context name:
    certificate stem}``, each authenticating with that certificate of the lab's PKI."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "lab",
                "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": context,
                "user": {
                    "client-certificate": str(pki / f"{stem}.crt"),
                    "client-key": str(pki / f"{stem}.key"),
                },
            }
            for context, stem in users.items()
        ],
        "contexts": [
            {"name": context, "context": {"cluster": "lab", "user": context}} for context in users
        ],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
