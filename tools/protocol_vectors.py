"""Generate the protocol test vectors under tests/vectors/protocol/ (docs/protocol.md).

`python -m tools.protocol_vectors` writes them; `--check` fails when the files differ from
what the implementation produces now (tests/test_protocol_vectors.py runs the same check).

Everything is fixed: keys from constant seeds, nonces, times. Ed25519 is deterministic, so
requests, plans and attestations are reproduced byte for byte. HPKE base mode draws a fresh
ephemeral key on every seal and the library offers no seam to fix it, so the sealed result
is recorded once: a regeneration keeps the recorded ciphertext as long as it still opens,
under the recorded key and `info`, to the recorded plaintext, and seals anew otherwise.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.errors import UntrustedInputError
from gateway.protocol.evidence import (
    RESULT_INFO,
    attestation,
    canonical_request,
    open_result,
    seal_result,
    sha256,
    user_commitment,
)
from gateway.protocol.keys import key_id
from gateway.protocol.model import (
    Aggregation,
    Bucket,
    Filter,
    GroupBy,
    Op,
    Query,
    QueryPlan,
    Scalar,
    time_text,
    typed_value,
    value_to_proto,
)
from gerbang.v1 import common_pb2

ROOT: Final = Path(__file__).resolve().parent.parent
OUT: Final = ROOT / "tests" / "vectors" / "protocol"
FEDERATION: Final = "spiffe://gerbang.jakarta.go.id"
CALLER: Final = f"{FEDERATION}/polda-metro-jaya/reskrim"
GATEWAY: Final = f"{FEDERATION}/gerbang/gateway"
ADAPTER: Final = f"{FEDERATION}/polda-metro-jaya/adapter-pmj-1"
ISSUED_AT: Final = dt.datetime(2026, 12, 3, 2, 15, 30, 123456, tzinfo=dt.UTC)

Doc = dict[str, Any]


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"gerbang protocol vectors\n" + label.encode()).digest()


CALLER_KEY: Final = Ed25519PrivateKey.from_private_bytes(_seed("caller ed25519"))
CALLER_HPKE: Final = X25519PrivateKey.from_private_bytes(_seed("caller x25519"))
GATEWAY_KEY: Final = Ed25519PrivateKey.from_private_bytes(_seed("gateway ed25519"))
ADAPTER_KEY: Final = Ed25519PrivateKey.from_private_bytes(_seed("adapter ed25519"))
ORG_KEY: Final = _seed("organisation user commitment key")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _raw_public(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_private(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def _party(owner: str, key: Ed25519PrivateKey) -> Doc:
    public = _raw_public(key)
    return {
        "owner": owner,
        "key_id": key_id("signing", public),
        "ed25519_seed_hex": _raw_private(key).hex(),
        "ed25519_public_b64": _b64(public),
    }


def _value(v: Scalar) -> Doc:
    """A filter value in the vectors' neutral form: its type and a JSON value."""
    kind, text = typed_value(v)
    if isinstance(v, float):
        return {"type": kind, "number": v}  # the implementation writes text itself
    return {"type": kind, "value": text}


def _query_doc(q: Query) -> Doc:
    agg = q.aggregation
    return {
        "dataset": q.dataset,
        "fields": list(q.fields),
        "filters": [
            {"field": f.field, "op": str(f.op), "values": [_value(v) for v in f.values]}
            for f in q.filters
        ],
        "aggregation": None
        if agg is None
        else {
            "group_by": [
                {"field": g.field, "bucket": str(g.bucket), "h3_resolution": g.h3_resolution}
                for g in agg.group_by
            ],
            "measure": str(agg.measure),
        },
        "purpose": q.purpose,
        "legal_basis": q.legal_basis,
        "case_reference": q.case_reference,
        "limit": q.limit,
        "operation": q.operation,
    }


RECORDS: Final = Query(
    "incidents",
    ("incident_id", "occurred_at", "kecamatan", "category", "modus_operandi"),
    (
        Filter("category", Op.IN, ("robbery", "motor_vehicle_theft")),
        Filter("occurred_at", Op.GE, (dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC),)),
        Filter("kecamatan", Op.EQ, ("Kebayoran Baru",)),
    ),
    None,
    "criminal_investigation",
    "UU 27/2022 Pasal 20 ayat (2) huruf c; UU 2/2002",
    case_reference="LP/B/1234/XI/2026/SPKT/POLDA METRO JAYA",
    limit=50,
)
HEATMAP: Final = Query(
    "incidents",
    ("location",),
    (
        Filter("occurred_at", Op.GE, (dt.datetime(2026, 11, 1, tzinfo=dt.UTC),)),
        Filter("occurred_at", Op.LT, (dt.datetime(2026, 12, 1, tzinfo=dt.UTC),)),
        Filter("lat", Op.LE, (-6.125,)),
        Filter("lon", Op.GT, (106.5 + 1 / 3,)),
        Filter("victim_count", Op.NE, (0,)),
        Filter("weapon_involved", Op.EQ, (False,)),
        Filter("kota", Op.NOT_IN, ("Jakarta Utara", 'Kepulauan "Seribu" \\ \n\u00e9\u2028')),
    ),
    Aggregation((GroupBy("location", Bucket.H3, 8),)),
    "spatial_planning",
    "UU 27/2022 Pasal 20 ayat (2) huruf e; UU 26/2007",
    operation="heatmap",
)


def _request(name: str, q: Query, nonce: bytes, user: tuple[str, str] | None) -> Doc:
    hpke_public = _raw_public(CALLER_HPKE)
    commitment = b"" if user is None else user_commitment(ORG_KEY, *user)
    canonical = canonical_request(CALLER, q, nonce, ISSUED_AT, hpke_public, commitment)
    return {
        "name": name,
        "caller": CALLER,
        "query": _query_doc(q),
        "nonce_hex": nonce.hex(),
        "issued_at": time_text(ISSUED_AT),
        "hpke_public_key_b64": _b64(hpke_public),
        "user": None
        if user is None
        else {
            "org_key_hex": ORG_KEY.hex(),
            "issuer": user[0],
            "subject": user[1],
            "commitment_hex": commitment.hex(),
        },
        "canonical": canonical.decode("utf-8"),
        "request_sha256_hex": sha256(canonical).hex(),
        "signature_b64": _b64(CALLER_KEY.sign(canonical)),
    }


def requests() -> Doc:
    return {
        "description": "Canonical signed requests (docs/protocol.md, 'The signed request').",
        "signer": _party(CALLER, CALLER_KEY),
        "requests": [
            _request("record-level, no user", RECORDS, bytes(range(16)), None),
            _request(
                "record-level, with user",
                RECORDS,
                bytes(range(16, 32)),
                ("https://sso.polri.go.id/realms/metro", "penyidik-0042"),
            ),
            _request(
                "analytics heatmap, every value type, with user",
                HEATMAP,
                bytes(range(32, 56)),
                ("https://sso.jakarta.go.id", "c3f1a2b4-7d9e-4f0a-8b6c-1d2e3f405162"),
            ),
        ],
    }


def _plan(request: Doc) -> bytes:
    caller_hpke = _raw_public(CALLER_HPKE)
    plan = QueryPlan(
        plan_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0/" + ADAPTER,
        request_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        adapter_id=ADAPTER,
        dataset=RECORDS.dataset,
        fields=RECORDS.fields,
        filters=RECORDS.filters,
        aggregation=None,
        aggregate_only=False,
        max_rows=50,
        min_cell_count=1,
        purpose=RECORDS.purpose,
        expires_at=ISSUED_AT + dt.timedelta(seconds=30),
        policy_revision="9d3c0b7ae2f1c4d5b6a79881726354403f2e1d0c9b8a79685746352413021f0e",
        request_hash=bytes.fromhex(request["request_sha256_hex"]),
        caller=CALLER,
        caller_hpke_public_key=caller_hpke,
    )
    return plan.to_proto().SerializeToString(deterministic=True)


def _result_set() -> bytes:
    rows = [
        ("LP-2026-0001", dt.datetime(2026, 11, 3, 14, 5, tzinfo=dt.UTC), "Kebayoran Baru"),
        ("LP-2026-0417", dt.datetime(2026, 11, 21, 22, 40, tzinfo=dt.UTC), "Kebayoran Baru"),
    ]
    result = common_pb2.ResultSet(columns=["incident_id", "occurred_at", "kecamatan"])
    for row in rows:
        result.rows.append(common_pb2.Row(values=[value_to_proto(v) for v in row]))
    return result.SerializeToString(deterministic=True)


def _ciphertext(previous: Doc | None, plaintext: bytes, plan_hash: bytes) -> bytes:
    """The recorded ciphertext if it still opens to `plaintext` under this plan; else a new one."""
    if previous is not None:
        try:
            old = base64.b64decode(previous["sealed"]["ciphertext_b64"])
            if open_result(old, CALLER_HPKE, plan_hash) == plaintext:
                return old
        except (KeyError, TypeError, ValueError, UntrustedInputError):
            pass
    return seal_result(plaintext, CALLER_HPKE.public_key(), plan_hash)


def result(request: Doc, previous: Doc | None) -> Doc:
    plan = _plan(request)
    plan_hash = sha256(plan)
    plaintext = _result_set()
    ciphertext = _ciphertext(previous, plaintext, plan_hash)
    signed_at = ISSUED_AT + dt.timedelta(seconds=1)
    attested = attestation(ADAPTER, plan_hash, ciphertext, 2, signed_at)
    return {
        "description": (
            "A plan signed by the gateway, the adapter's sealed answer to it and its "
            "attestation (docs/protocol.md, 'The plan', 'Sealing and opening', "
            "'Attestations')."
        ),
        "request_name": request["name"],
        "request_sha256_hex": request["request_sha256_hex"],
        "caller": CALLER,
        "gateway": _party(GATEWAY, GATEWAY_KEY),
        "adapter": _party(ADAPTER, ADAPTER_KEY),
        "plan": {
            "data_b64": _b64(plan),
            "sha256_hex": plan_hash.hex(),
            "signature_b64": _b64(GATEWAY_KEY.sign(plan)),
            "fields": {
                "adapter_id": ADAPTER,
                "request_hash_hex": request["request_sha256_hex"],
                "caller": CALLER,
                "caller_hpke_public_key_b64": request["hpke_public_key_b64"],
            },
        },
        "sealed": {
            "suite": {"kem": "DHKEM(X25519, HKDF-SHA256)", "kdf": "HKDF-SHA256"}
            | {"aead": "AES-256-GCM", "kem_id": 32, "kdf_id": 1, "aead_id": 2},
            "recipient_x25519_private_hex": _raw_private(CALLER_HPKE).hex(),
            "recipient_x25519_public_b64": _b64(_raw_public(CALLER_HPKE)),
            "info_hex": (RESULT_INFO + plan_hash).hex(),
            "aad_hex": "",
            "plaintext_b64": _b64(plaintext),
            "ciphertext_b64": _b64(ciphertext),
            "ciphertext_sha256_hex": sha256(ciphertext).hex(),
        },
        "attestation": {
            "data": attested.decode("utf-8"),
            "signature_b64": _b64(ADAPTER_KEY.sign(attested)),
        },
    }


def _dump(doc: Doc) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def build(out: Path = OUT) -> dict[str, str]:
    """Each vector file's name and text, as the implementation makes them now."""
    reqs = requests()
    previous_path = out / "result.json"
    previous = json.loads(previous_path.read_text()) if previous_path.exists() else None
    return {
        "requests.json": _dump(reqs),
        "result.json": _dump(result(reqs["requests"][1], previous)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the files are stale")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [n for n, text in files.items() if not (OUT / n).is_file()]
        stale += [
            n for n, text in files.items() if (OUT / n).is_file() and (OUT / n).read_text() != text
        ]
        if stale:
            print("protocol vectors are stale; run `python -m tools.protocol_vectors`:", *stale)
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
