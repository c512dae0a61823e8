"""The agent's key pair for pass-through authentication.

Identity encrypts the password of every login check to the agent's public
key; only the agent holds the private half. The scheme is RSA-OAEP with
SHA-256 (MGF1-SHA-256, no label) over a 3072-bit key: standard, supported by
every platform Identity may run on, and a password fits in one block (at most
318 bytes of UTF-8). One key pair per directory, created when the directory
is registered with Identity (a new token: :func:`new_key_pair`) and published
with ``PUT /public-key``; registering again rotates it. The private key lives
in the secret store (``directory/<id>/private_key``, PKCS#8 PEM, in the 0600
file), so it is never in appsettings.json, a log or an export.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

from smartsync_tui.core.errors import UserError
from smartsync_tui.i18n import _

ALGORITHM = "RSA-OAEP-SHA256"
KEY_BITS = 3072
# What Identity (the emulator) accepts from an agent.
MIN_KEY_BITS = 2048
# RSA-OAEP with SHA-256 carries at most k - 2*hLen - 2 bytes: 384 - 64 - 2.
MAX_PLAINTEXT_BYTES = KEY_BITS // 8 - 2 * 32 - 2


def directory_private_key(directory_id: str) -> str:
    """The secret store's key for a directory's private key."""
    return f"directory/{directory_id}/private_key"


class DecryptionFailed(UserError):
    """The password could not be decrypted (another key, or a damaged message)."""

    kind = "undecryptable"


def _oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@dataclass(frozen=True)
class KeyPair:
    private_pem: SecretStr
    public_pem: str
    fingerprint: str  # sha256 of the public key's DER (SubjectPublicKeyInfo), hex


def new_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return KeyPair(SecretStr(private_pem), public_pem, fingerprint(public_pem))


def rsa_key_bits(public_pem: str) -> int | None:
    """The size of a PEM RSA public key; None when it is not one."""
    try:
        key = serialization.load_pem_public_key(public_pem.encode("ascii"))
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
        return None
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else None


def fingerprint(public_pem: str) -> str:
    """sha256 of the DER of a PEM public key, hex: how the API names a key."""
    key = serialization.load_pem_public_key(public_pem.encode("ascii"))
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


class PrivateKey:
    """A loaded private key (loading a PEM costs a few ms: done once per loop, not per check)."""

    def __init__(self, private_pem: SecretStr) -> None:
        try:
            self._key = serialization.load_pem_private_key(private_pem.get_secret_value().encode("ascii"), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise UserError(
                _("The stored private key of this directory cannot be read: register the directory again "
                  "(enter its token again) to create a new key pair.")
            ) from None
        if not isinstance(self._key, rsa.RSAPrivateKey):
            raise UserError(_("The stored private key is not an RSA key: register the directory again."))
        public = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")
        self.public_pem = public
        self.fingerprint = fingerprint(public)

    def decrypt(self, encrypted_b64: str) -> SecretStr:
        """The password in a login check; raises DecryptionFailed (never saying more: no oracle)."""
        try:
            data = base64.b64decode(encrypted_b64, validate=True)
            plain = self._key.decrypt(data, _oaep())
            return SecretStr(plain.decode("utf-8"))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise DecryptionFailed(_("the password could not be decrypted with this agent's key")) from None


def encrypt(public_pem: str, password: str) -> str:
    """What Identity does (the emulator and the tests): base64 of RSA-OAEP-SHA256 of the UTF-8 password."""
    data = password.encode("utf-8")
    if len(data) > MAX_PLAINTEXT_BYTES:
        raise ValueError(f"a password of more than {MAX_PLAINTEXT_BYTES} bytes (UTF-8) cannot be encrypted")
    key = serialization.load_pem_public_key(public_pem.encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the public key is not an RSA key")
    return base64.b64encode(key.encrypt(data, _oaep())).decode("ascii")
