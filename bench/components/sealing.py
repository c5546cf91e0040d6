"""Sealing results: HPKE against plain AES-GCM, and an adapter's whole result work (seal,
attest, sign) against its cryptographic floor, per result size.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.components import Component, Rate
from bench.components.timing import ROUNDS, alternate, timed_batches


def sealing_component(payload: bytes, seconds: float) -> Component:
    """HPKE sealing of a result to the caller (as adapters do) vs plain AES-256-GCM.

    Both over the same bytes: the benchmark's result payload. Sealing adds an X25519
    key agreement and HKDF per result to the AEAD both share (RFC 9180 base mode).
    """
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from gateway.protocol.sealing import seal_result

    recipient = X25519PrivateKey.generate().public_key()
    plan_hash = hashlib.sha256(b"benchmark plan").digest()
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)

    def seal(_n: int) -> None:
        seal_result(payload, recipient, plan_hash)

    def encrypt(_n: int) -> None:
        aead.encrypt(nonce, payload, None)

    subject = timed_batches("seal_result (HPKE)", 1, seconds, seal, unit="payload")
    baseline = timed_batches("AES-256-GCM", 1, seconds, encrypt, unit="payload")
    return Component(
        "sealing a result", subject, baseline, f"over the {len(payload)}-byte benchmark payload"
    )


def seal_and_sign_components(sizes: tuple[int, ...], seconds: float) -> list[Component]:
    """An adapter's result work vs its floor, per result size (issue 6's target).

    Subject, as `adapters/server.py` does it: HPKE-seal the result to the caller
    (bound to the plan hash), hash the ciphertext, build the attestation, sign it.
    Floor, over the same bytes: one X25519 key agreement, one Ed25519 signature
    (of an attestation-sized message), one AES-256-GCM pass and one SHA-256 pass.
    The target is cost <= 1.3 x floor, i.e. rate / baseline >= 0.77.
    """
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from gateway.protocol.attestation import attestation
    from gateway.protocol.sealing import seal_result

    caller = X25519PrivateKey.generate()
    signer = Ed25519PrivateKey.generate()
    plan_hash = hashlib.sha256(b"benchmark plan").digest()
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)
    now = dt.datetime.now(dt.UTC)
    out = []
    for size in sizes:
        payload = os.urandom(size)
        sample = attestation("spiffe://bench/adapter", plan_hash, payload, 1, now)

        def result(_n: int, payload: bytes = payload) -> None:
            sealed = seal_result(payload, caller.public_key(), plan_hash)
            signer.sign(attestation("spiffe://bench/adapter", plan_hash, sealed, 1, now))

        def floor(_n: int, payload: bytes = payload, sample: bytes = sample) -> None:
            X25519PrivateKey.generate().exchange(caller.public_key())
            signer.sign(sample)
            aead.encrypt(nonce, payload, None)
            hashlib.sha256(payload).digest()

        def measured(op: Callable[[int], None] = result) -> Rate:
            return timed_batches("seal + attest + sign", 1, seconds, op, "result")

        def floored(op: Callable[[int], None] = floor) -> Rate:
            return timed_batches("X25519 + Ed25519 + AES-GCM + SHA-256", 1, seconds, op, "result")

        subject, baseline = alternate(ROUNDS, measured, floored)
        out.append(
            Component(
                f"sealing and signing a {size:,}-byte result",
                subject,
                baseline,
                f"target: within 1.3 x the floor (ratio >= 0.77); best of {ROUNDS} rounds",
            )
        )
    return out
