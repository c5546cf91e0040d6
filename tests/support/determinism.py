"""Fixed inputs for a replayable run: keys from labels, and the two sources of randomness
that are random by design made repeatable.

Everything the gateway computes is a function of its inputs except two draws:

- HPKE sealing (RFC 9180) draws a fresh ephemeral X25519 key for every sealed result and
  every sealed audit detail, so the ciphertext, and the digest of it that an audit leaf
  and an attestation record, differ on every run. `FixedEphemeralSuite` seals with an
  ephemeral key derived from the plaintext and `info` instead, exactly as RFC 9180's test
  vectors fix `ikmE`; it is checked against the real suite by opening its ciphertext with
  `cryptography`'s own HPKE (`check_fixed_sealing`).
- Differential-privacy noise comes from OpenDP, which draws from the operating system's
  CSPRNG and cannot be seeded. `seeded_noise` draws discrete Laplace noise of the same
  scale from a seeded generator.

Nothing here is used outside tests: a deployment that sealed with a derived ephemeral key,
or drew noise from a seeded generator, would lose the properties these draws exist for.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hpke as real_hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from numpy.random import PCG64, Generator

# RFC 9180 section 7: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
_KEM_ID: Final = 0x0020
_KDF_ID: Final = 0x0001
_AEAD_ID: Final = 0x0002
_KEM_SUITE: Final = b"KEM" + _KEM_ID.to_bytes(2, "big")
_HPKE_SUITE: Final = (
    b"HPKE" + _KEM_ID.to_bytes(2, "big") + _KDF_ID.to_bytes(2, "big") + _AEAD_ID.to_bytes(2, "big")
)


def seed_bytes(label: str, n: int = 32) -> bytes:
    """`n` bytes fixed by `label`: the same label gives the same bytes on every run."""
    return hashlib.sha256(b"gerbang-test-seed\n" + label.encode()).digest()[:n]


def signing_key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed_bytes("ed25519:" + label))


def hpke_key(label: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(seed_bytes("x25519:" + label))


# --- RFC 9180, base mode, single shot, with the ephemeral key given --------------------------


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or b"\x00" * 32, ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)  # section 4


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def seal_with(
    ephemeral: X25519PrivateKey, recipient: X25519PublicKey, plaintext: bytes, info: bytes
) -> bytes:
    """enc || ciphertext, as `hpke.Suite.encrypt` returns it, with the ephemeral key given."""
    enc = ephemeral.public_key().public_bytes_raw()
    dh = ephemeral.exchange(recipient)  # 4.1, Encap
    kem_context = enc + recipient.public_bytes_raw()
    eae_prk = _labeled_extract(_KEM_SUITE, b"", b"eae_prk", dh)
    shared = _labeled_expand(_KEM_SUITE, eae_prk, b"shared_secret", kem_context, 32)
    # 5.1, KeySchedule in mode_base (0) with no PSK.
    psk_id_hash = _labeled_extract(_HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(_HPKE_SUITE, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = _labeled_extract(_HPKE_SUITE, shared, b"secret", b"")
    key = _labeled_expand(_HPKE_SUITE, secret, b"key", context, 32)
    nonce = _labeled_expand(_HPKE_SUITE, secret, b"base_nonce", context, 12)
    return enc + AESGCM(key).encrypt(nonce, plaintext, b"")  # 5.2, sequence number 0


class FixedEphemeralSuite:
    """Stands in for the project's `hpke.Suite`: seals with an ephemeral key derived from
    the recipient, `info` and the plaintext; opens with the real suite."""

    def __init__(self, real: real_hpke.Suite) -> None:
        self.real = real

    def encrypt(self, plaintext: bytes, public_key: X25519PublicKey, info: bytes = b"") -> bytes:
        label = (public_key.public_bytes_raw() + info + plaintext).hex()
        return seal_with(hpke_key("ephemeral:" + label), public_key, plaintext, info)

    def decrypt(self, ciphertext: bytes, private_key: X25519PrivateKey, info: bytes = b"") -> bytes:
        return self.real.decrypt(ciphertext, private_key, info=info)


def check_fixed_sealing(suite: real_hpke.Suite) -> None:
    """The stand-in's ciphertext opens with the real suite: it is RFC 9180 HPKE."""
    recipient = hpke_key("check")
    sealed = FixedEphemeralSuite(suite).encrypt(b"plaintext", recipient.public_key(), b"info")
    if suite.decrypt(sealed, recipient, info=b"info") != b"plaintext":
        raise AssertionError("the fixed-ephemeral HPKE seal does not open with the real suite")


# --- discrete Laplace noise from a seeded generator -------------------------------------------


class SeededNoise:
    """Discrete Laplace noise of the asked scale: the difference of two geometric draws
    (Inusah and Kozubowski), from a generator seeded by the run's seed and the counts
    themselves, so that adapters answering at once, in either order, draw the same."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __call__(self, counts: Sequence[int], scale: float) -> list[int]:
        digest = hashlib.sha256(f"{self.seed}:{scale!r}:{list(counts)!r}".encode()).digest()
        rng = Generator(PCG64(int.from_bytes(digest[:16], "big")))
        p = 1.0 - math.exp(-1.0 / scale)
        a = rng.geometric(p, size=len(counts))
        b = rng.geometric(p, size=len(counts))
        return [int(c) + int(x) - int(y) for c, x, y in zip(counts, a, b, strict=True)]


@contextmanager
def repeatable(privatise: Any, noise_seed: int = 9180) -> Iterator[None]:
    """Within: every HPKE suite of the project's modules seals with derived ephemeral keys,
    and the adapter's noise (`privatise`'s default, and the noise it draws ahead) comes from a
    seeded generator."""
    swapped: list[tuple[ModuleType, str, object]] = []
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("gateway", "adapters", "tools")):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, real_hpke.Suite):
                check_fixed_sealing(value)
                swapped.append((module, attr, value))
                setattr(module, attr, FixedEphemeralSuite(value))
    if not swapped:
        raise AssertionError("no HPKE suite found in the project's modules to make repeatable")
    # The adapter draws its noise ahead of the counts (`adapters.noise.DrawnNoise`, ADR 0029)
    # and passes it to `privatise`: every module's name for it draws seeded noise instead.
    from adapters.noise import DrawnNoise

    def seeded_drawn(size: int, scale: float, parts: int = 2) -> SeededNoise:
        return SeededNoise(noise_seed)

    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("gateway", "adapters", "tools")):
            continue
        for attr, value in list(vars(module).items()):
            if value is DrawnNoise:
                swapped.append((module, attr, value))
                setattr(module, attr, seeded_drawn)
    defaults = privatise.__kwdefaults__
    real_noise = defaults["noise"]
    defaults["noise"] = SeededNoise(noise_seed)
    try:
        yield
    finally:
        defaults["noise"] = real_noise
        for module, attr, value in swapped:
            setattr(module, attr, value)
