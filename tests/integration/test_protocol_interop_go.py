"""The protocol vectors, checked by a second implementation written from docs/protocol.md.

tests/interop/protocol is a Go program using only Go's standard library (crypto/ed25519,
crypto/hmac, crypto/ecdh, crypto/hpke): it rebuilds each canonical request from its
structured form, computes the user commitment, signs and verifies, checks the plan, its
binding and the attestation, and opens the sealed result under its HPKE `info`. It shares
no code with the Python implementation; tests/vectors/test_protocol_vectors.py checks the same files
against the Python one. Without Go the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require

INTEROP = Path(__file__).resolve().parents[1] / "interop"
VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "protocol"


@pytest.fixture(scope="module")
def protocol_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    require(go, "the Go toolchain is not installed (needed to build tests/interop/protocol)")
    assert go is not None
    out = tmp_path_factory.mktemp("protocol") / "protocol"
    build = subprocess.run(
        [go, "build", "-mod=readonly", "-o", str(out), "./protocol"],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, f"go build failed:\n{build.stderr}"
    return out


def run(binary: Path, vectors: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), str(vectors)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_go_implementation_accepts_every_vector(protocol_binary: Path) -> None:
    done = run(protocol_binary, VECTORS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("PASS")
    assert done.stdout.count("canonical request bytes") == 3
    assert done.stdout.count("signature made and verified") == 3
    assert done.stdout.count(": user commitment") == 2
    assert "sealed result opened" in done.stdout
    assert "attestation of spiffe://" in done.stdout


@pytest.mark.parametrize(
    ("file", "old", "new", "why"),
    [
        ("requests.json", '"limit": 50', '"limit": 51', "canonical request differs"),
        ("requests.json", '"issuer": "https://sso', '"issuer": "http://sso', "user commitment"),
        ("result.json", '"info_hex": "67', '"info_hex": "68', "HPKE info differs"),
        ("result.json", '"rows\\":2', '"rows\\":3', "attestation signature does not verify"),
    ],
)
def test_the_go_implementation_refuses_a_changed_vector(
    protocol_binary: Path, tmp_path: Path, file: str, old: str, new: str, why: str
) -> None:
    for name in ("requests.json", "result.json"):
        text = (VECTORS / name).read_text()
        if name == file:
            assert old in text
            text = text.replace(old, new, 1)
        (tmp_path / name).write_text(text)
    done = run(protocol_binary, tmp_path)
    assert done.returncode != 0
    assert why in done.stdout
