"""Ed25519 keys and signed heads.

A head is (origin, seq, hash of the entry at seq). Signing the head signs the
whole chain up to it. Keys travel as 32 raw bytes and rest on disk as PEM.
The signed bytes are specified in docs/log-format.md (sections 5 and 7).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_ed25519_pk_to_curve25519, crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError

from protocol import codec
from protocol.errors import BadSignature, MalformedMessage

HEAD_CONTEXT = "branchline-head-v1"  # domain separation: a head signature signs nothing else
BACKLOG_CONTEXT = "branchline-backlog-v1"  # what a push reports still waiting at the node
REQUEST_CONTEXT = "branchline-request-v1"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


@dataclass(frozen=True, slots=True)
class Head:
    origin: str
    seq: int
    hash: bytes

    def signing_bytes(self) -> bytes:
        return codec.pack([HEAD_CONTEXT, self.origin, self.seq, self.hash])


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key_pem(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise MalformedMessage("the key file is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise MalformedMessage("the key file does not hold an Ed25519 private key")
    return key


def check_public_key(raw: object, what: str = "a public key") -> bytes:
    """`raw` if it is a public key some private key could have made: 32 bytes encoding
    a point of the prime-order subgroup. A small-order key (the identity, for one)
    verifies a trivial signature over any message, so anyone could sign for it."""
    if not isinstance(raw, bytes) or len(raw) != PUBLIC_KEY_BYTES:
        raise MalformedMessage(f"{what} must be 32 raw bytes")
    try:
        # libsodium converts only a point on the curve, of the prime-order subgroup
        # and not of small order; it refuses every other encoding.
        crypto_sign_ed25519_pk_to_curve25519(raw)
    except CryptoError:  # libsodium's refusal, as PyNaCl's RuntimeError
        raise MalformedMessage(
            f"{what} is not a usable Ed25519 key (small order, off the curve or outside the"
            " prime-order subgroup); make the key pair again"
        ) from None
    return raw


def sign_head(key: Ed25519PrivateKey, head: Head) -> bytes:
    return key.sign(head.signing_bytes())


def verify_head(public_key: bytes, head: Head, signature: bytes) -> None:
    _verify(public_key, head.signing_bytes(), signature, f"head {head.origin}#{head.seq}")


def request_signing_bytes(node: str, method: str, path: str, timestamp_ms: int) -> bytes:
    return codec.pack([REQUEST_CONTEXT, node, method, path, timestamp_ms])


def sign_request(key: Ed25519PrivateKey, node: str, method: str, path: str, timestamp_ms: int) -> bytes:
    return key.sign(request_signing_bytes(node, method, path, timestamp_ms))


def verify_request(
    public_key: bytes, node: str, method: str, path: str, timestamp_ms: int, signature: bytes
) -> None:
    message = request_signing_bytes(node, method, path, timestamp_ms)
    _verify(public_key, message, signature, f"request of {node}")


def signed_by(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is the Ed25519 signature of `message` by `public_key`."""
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        return False
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
        raise MalformedMessage("a public key is 32 raw bytes")
    # Verified by libsodium, signed by `cryptography` (its keys are the PEM files):
    # both are RFC 8032 Ed25519, and libsodium verifies in about half OpenSSL's time
    # here (55 against 103 us), on every push, feed read and feed page. It also refuses
    # small-order keys and non-canonical signatures, where OpenSSL accepts a trivial
    # signature over any message under the identity key (tests/protocol/test_signing.py).
    try:
        crypto_sign_open(signature + message, public_key)
    except BadSignatureError:
        return False
    return True


def _verify(public_key: bytes, message: bytes, signature: bytes, what: str) -> None:
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise BadSignature(f"{what}: a signature is 64 bytes")
    if not signed_by(public_key, message, signature):
        raise BadSignature(
            f"{what}: signature does not verify with the key enrolled for it; "
            "the data was altered or signed by another key"
        )


def backlog_signing_bytes(origin: str, head_seq: int, reported_backlog: int) -> bytes:
    """What a node signs of the backlog it reports with a push: bound to the push's head,
    so a signature cannot be replayed onto another push."""
    return codec.pack([BACKLOG_CONTEXT, origin, head_seq, reported_backlog])


def sign_backlog(key: Ed25519PrivateKey, origin: str, head_seq: int, reported_backlog: int) -> bytes:
    return key.sign(backlog_signing_bytes(origin, head_seq, reported_backlog))


def verify_backlog(
    public_key: bytes, origin: str, head_seq: int, reported_backlog: int, signature: bytes
) -> None:
    _verify(
        public_key,
        backlog_signing_bytes(origin, head_seq, reported_backlog),
        signature,
        f"the backlog {origin} reported with its push up to {head_seq}",
    )
