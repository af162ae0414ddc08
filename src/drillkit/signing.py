"""Ed25519 keys for signing ledger entries, the ledger head, export bundles and backup
catalogue entries.

A hash chain proves that the ledger was not edited *unless the editor recomputed the
chain*, which anyone can do. A signature closes that gap: only the holder of the
private key can produce an entry, a head or a bundle manifest that verifies with the
matching public key. The private key stays with whoever runs drills (a file whose
path is configured with ``DRILL_SIGNING_KEY``); the public key goes to the auditor.

Keys are PEM files (PKCS#8 for the private key, SubjectPublicKeyInfo for the public
one), the formats ``openssl pkey`` reads, so an auditor can check a signature without
drillkit. A key is named by its *fingerprint*: the first 16 hex digits of the SHA-256
of its raw 32-byte public key, which entries carry so a verifier can say "signed by a
different key" rather than just "bad signature".

One key serves the evidence ledger and the backup catalogues: ``DRILL_SIGNING_KEY``
names it; ``DRILL_VERIFY_KEY`` names a public key that checks without signing. This
module sits beside ``drillkit.errors`` and ``drillkit.files``, outside the layers: the
ledger (evidence) and the backup activities (faults, scheduling) both sign with it.

``cryptography`` is imported only here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from drillkit.errors import InvalidInput
from drillkit.files import sync_directory, write_atomically

ALGORITHM: Final = "ed25519"
SIGNING_KEY_VARIABLE: Final = "DRILL_SIGNING_KEY"
VERIFY_KEY_VARIABLE: Final = "DRILL_VERIFY_KEY"
_PRIVATE_KEY_MODE: Final = 0o600
_PUBLIC_KEY_MODE: Final = 0o644


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """A public key that checks signatures."""

    key: Ed25519PublicKey

    @property
    def fingerprint(self) -> str:
        """The key's name in signatures: 16 hex digits of SHA-256 over the raw public key."""
        raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]

    def verify(self, signature: str, data: bytes) -> bool:
        """Whether ``signature`` (base64) is this key's signature over ``data``."""
        try:
            self.key.verify(base64.b64decode(signature, validate=True), data)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def to_pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key that signs; its public half verifies."""

    key: Ed25519PrivateKey

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey(self.key.public_key())

    @property
    def fingerprint(self) -> str:
        return self.verify_key.fingerprint

    def sign(self, data: bytes) -> str:
        """The signature over ``data``, base64-encoded."""
        return base64.b64encode(self.key.sign(data)).decode("ascii")


def generate_key_pair(private_path: Path) -> tuple[SigningKey, Path]:
    """Create a new key pair: ``private_path`` (mode 0600) and ``private_path`` + ``.pub``.

    Refuses to overwrite either file: replacing a signing key silently would make every
    entry signed so far unverifiable with the key the auditor holds.
    """
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise InvalidInput(f"{path} already exists; move it away or choose another path")
    key = SigningKey(Ed25519PrivateKey.generate())
    private_pem = key.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    created = not private_path.parent.exists()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    if created:
        sync_directory(private_path.parent.parent)
    write_atomically(private_path, private_pem, mode=_PRIVATE_KEY_MODE)
    write_atomically(public_path, key.verify_key.to_pem(), mode=_PUBLIC_KEY_MODE)
    return key, public_path


def load_signing_key(path: Path) -> SigningKey:
    """Read an Ed25519 private key (PEM, PKCS#8, unencrypted); InvalidInput names the file."""
    data = _read_key_file(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise InvalidInput(
            f"{path}: not an unencrypted PEM private key ({_first_line(error)}); "
            "create one with: drill evidence keygen"
        ) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path}: the signing key must be an Ed25519 key")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise InvalidInput(
            f"{path}: the signing key is readable by other users; run: chmod 600 {path}"
        )
    return SigningKey(key)


def load_verify_key(path: Path) -> VerifyKey:
    """Read an Ed25519 public key (PEM), or take the public half of a private key file."""
    data = _read_key_file(path, "public key")
    if b"PRIVATE KEY" in data:
        return load_signing_key(path).verify_key
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise InvalidInput(f"{path}: not a PEM public key ({_first_line(error)})") from error
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"{path}: the public key must be an Ed25519 key")
    return VerifyKey(key)


def signing_key_at(path: Path | None) -> SigningKey | None:
    """The private key at ``path`` (``~`` expanded), or None when no path is given."""
    return load_signing_key(path.expanduser()) if path is not None else None


def verify_key_for(public_key: Path | None, signing_key: Path | None) -> VerifyKey | None:
    """The public key given, else the public half of the signing key, else none."""
    if public_key is not None:
        return load_verify_key(public_key.expanduser())
    key = signing_key_at(signing_key)
    return key.verify_key if key is not None else None


def keys_from_environment(
    environment: Mapping[str, str] = os.environ,
) -> tuple[SigningKey | None, VerifyKey | None]:
    """The keys ``DRILL_SIGNING_KEY`` and ``DRILL_VERIFY_KEY`` name, as the command line's
    options read them: what signs, and what checks (default: the signing key's half)."""
    signing = environment.get(SIGNING_KEY_VARIABLE) or None
    public = environment.get(VERIFY_KEY_VARIABLE) or None
    signer = signing_key_at(Path(signing) if signing else None)
    if public is not None:
        return signer, load_verify_key(Path(public).expanduser())
    return signer, signer.verify_key if signer is not None else None


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read the {what}: {error.strerror or error}") from error


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
