"""Ed25519 keys and signed heads: a head signature signs one head of one origin, and nothing else."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import codec, signing
from protocol.errors import BadSignature, MalformedMessage
from protocol.signing import Head
from tests.protocol.strategies import NODE_KEY, NODE_PUBLIC_KEY, OTHER_PUBLIC_KEY

HEAD = Head("B01", 3, bytes(range(32)))


def test_the_fixed_test_key_is_rfc_8032_test_1_so_our_ed25519_is_the_standard_one() -> None:
    # RFC 8032 section 7.1, TEST 1: public key and the signature of the empty message.
    assert NODE_PUBLIC_KEY.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert NODE_KEY.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )


def test_a_head_signs_the_context_origin_seq_and_hash() -> None:
    assert HEAD.signing_bytes() == codec.pack(["branchline-head-v1", "B01", 3, bytes(range(32))])


def test_a_head_signature_verifies_with_the_signers_public_key_only() -> None:
    signature = signing.sign_head(NODE_KEY, HEAD)
    assert len(signature) == signing.SIGNATURE_BYTES == 64
    signing.verify_head(NODE_PUBLIC_KEY, HEAD, signature)
    with pytest.raises(BadSignature, match="another key"):
        signing.verify_head(OTHER_PUBLIC_KEY, HEAD, signature)


@pytest.mark.parametrize(
    "other_head",
    [Head("B02", 3, bytes(range(32))), Head("B01", 4, bytes(range(32))), Head("B01", 3, bytes(32))],
    ids=["other-origin", "other-seq", "other-hash"],
)
def test_a_head_signature_does_not_cover_any_other_head(other_head: Head) -> None:
    signature = signing.sign_head(NODE_KEY, HEAD)
    with pytest.raises(BadSignature):
        signing.verify_head(NODE_PUBLIC_KEY, other_head, signature)


def test_a_request_signature_is_never_a_head_signature() -> None:
    # Domain separation: the same four values signed as a request do not verify as a head.
    request_signature = signing.sign_request(NODE_KEY, "B01", "3", "path", 0)
    with pytest.raises(BadSignature):
        signing.verify_head(NODE_PUBLIC_KEY, HEAD, request_signature)


def test_a_request_signature_covers_node_method_path_and_timestamp() -> None:
    signature = signing.sign_request(NODE_KEY, "B01", "POST", "/api/push", 1_700_000_000_000)
    signing.verify_request(NODE_PUBLIC_KEY, "B01", "POST", "/api/push", 1_700_000_000_000, signature)
    for changed in [
        ("B02", "POST", "/api/push", 1_700_000_000_000),
        ("B01", "GET", "/api/push", 1_700_000_000_000),
        ("B01", "POST", "/api/feed", 1_700_000_000_000),
        ("B01", "POST", "/api/push", 1_700_000_000_001),
    ]:
        with pytest.raises(BadSignature):
            signing.verify_request(NODE_PUBLIC_KEY, *changed, signature)


@pytest.mark.parametrize("length", [0, 63, 65])
def test_a_signature_that_is_not_64_bytes_is_refused_as_bad(length: int) -> None:
    with pytest.raises(BadSignature, match="64 bytes"):
        signing.verify_head(NODE_PUBLIC_KEY, HEAD, bytes(length))


@pytest.mark.parametrize("length", [0, 31, 33])
def test_a_public_key_that_is_not_32_bytes_is_malformed(length: int) -> None:
    with pytest.raises(MalformedMessage, match="32 raw bytes"):
        signing.verify_head(bytes(length), HEAD, signing.sign_head(NODE_KEY, HEAD))


def test_a_private_key_survives_its_pem_file() -> None:
    pem = signing.private_key_pem(NODE_KEY)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert signing.public_key_bytes(signing.load_private_key_pem(pem)) == NODE_PUBLIC_KEY


def test_a_pem_file_holding_another_kind_of_key_is_refused() -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(MalformedMessage, match="Ed25519"):
        signing.load_private_key_pem(ec_pem)


def test_generated_keys_differ() -> None:
    one, other = signing.generate_private_key(), signing.generate_private_key()
    assert isinstance(one, Ed25519PrivateKey)
    assert signing.public_key_bytes(one) != signing.public_key_bytes(other)


# Keys no private key makes: the identity point, the point of order 2, zero bytes (a
# small-order point too), and y = 2, which no point of the curve has (x squared would
# be a non-square modulo 2**255 - 19).
IDENTITY = bytes([1]) + bytes(31)
ORDER_2 = bytes([0xEC]) + bytes([0xFF]) * 30 + bytes([0x7F])
ZERO = bytes(32)
OFF_CURVE = bytes([2]) + bytes(31)


@pytest.mark.parametrize("key", [IDENTITY, ORDER_2, ZERO], ids=["identity", "order-2", "zero"])
def test_a_trivial_signature_under_a_small_order_key_verifies_nothing(key: bytes) -> None:
    # Under the identity key, R = identity and S = 0 satisfy [S]B = R + [k]A for every
    # message k: a verifier that admits small-order keys (OpenSSL's does) accepts it,
    # so anyone could sign heads and requests for a node that enrolled such a key.
    trivial = IDENTITY + bytes(32)
    assert not signing.signed_by(key, HEAD.signing_bytes(), trivial)
    with pytest.raises(BadSignature, match="does not verify"):
        signing.verify_head(key, HEAD, trivial)
    with pytest.raises(BadSignature, match="does not verify"):
        signing.verify_request(key, "B01", "GET", "/api/feed", 1_700_000_000_000, trivial)


@pytest.mark.parametrize(
    "key", [IDENTITY, ORDER_2, ZERO, OFF_CURVE], ids=["identity", "order-2", "zero", "off-curve"]
)
def test_a_key_no_private_key_makes_is_refused_as_unusable(key: bytes) -> None:
    with pytest.raises(MalformedMessage, match="node_public_key is not a usable Ed25519 key"):
        signing.check_public_key(key, "node_public_key")


def test_a_real_key_is_usable_and_verifies_what_it_signed() -> None:
    assert signing.check_public_key(NODE_PUBLIC_KEY) == NODE_PUBLIC_KEY
    signature = signing.sign_head(NODE_KEY, HEAD)
    assert signing.signed_by(NODE_PUBLIC_KEY, HEAD.signing_bytes(), signature)
    assert not signing.signed_by(NODE_PUBLIC_KEY, HEAD.signing_bytes() + b"x", signature)
    assert not signing.signed_by(NODE_PUBLIC_KEY, HEAD.signing_bytes(), signature[:63])
