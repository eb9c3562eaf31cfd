"""Ed25519 keys and signed heads.

A head is (origin, seq, hash of the entry at seq). Signing the head signs the
whole chain up to it. Keys travel as 32 raw bytes and rest on disk as PEM.
The signed bytes are specified in docs/log-format.md (sections 5 and 7).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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


def load_public_key(raw: bytes) -> Ed25519PublicKey:
    if not isinstance(raw, bytes) or len(raw) != PUBLIC_KEY_BYTES:
        raise MalformedMessage("a public key is 32 raw bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


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


def _verify(public_key: bytes, message: bytes, signature: bytes, what: str) -> None:
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise BadSignature(f"{what}: a signature is 64 bytes")
    try:
        load_public_key(public_key).verify(signature, message)
    except InvalidSignature:
        raise BadSignature(
            f"{what}: signature does not verify with the key enrolled for it; "
            "the data was altered or signed by another key"
        ) from None


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
