"""C2SP tlog-policy quorums and tlog-proof@v1 files, cross-checked with transparency-dev/formats
(`witness.ParsePolicy` + `Satisfied`, `proof.TLogProof`) by tests/interop/proofpolicy."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import ProofError, SignatureError
from gateway.tlog.checkpoint import Checkpoint, cosign, format_cosigner_key, sign_checkpoint
from gateway.tlog.merkle import MemoryNodeStore, inclusion_proof, leaf_hash, root_at
from gateway.tlog.note import Ed25519NoteSigner, format_verifier_key
from gateway.tlog.proof import TlogProof
from gateway.tlog.witness_policy import PolicyFormatError, QuorumNotMet, WitnessPolicy
from tests.conftest import require

INTEROP = Path(__file__).resolve().parent / "interop"
ORIGIN = "gerbang.test/audit"
LOG = Ed25519NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x31" * 32))
WITNESSES = {
    name: (f"{name.lower()}.test/witness", Ed25519PrivateKey.from_private_bytes(bytes([i]) * 32))
    for i, name in enumerate("ABC", 0x41)
}
TIMESTAMP = 1_767_225_600
LEAVES = [f"entry {i}".encode() for i in range(21)]


def _vkey(name: str) -> str:
    key_name, key = WITNESSES[name]
    return format_cosigner_key(key_name, key.public_key())


def _policy(quorum_lines: str) -> str:
    lines = [f"log {LOG.verifier().to_key_string()}", "# three oversight bodies"]
    lines += [f"witness {n}\t{_vkey(n)}  https://{n.lower()}.example/" for n in WITNESSES]
    return "\n".join(lines) + "\n" + quorum_lines


TWO_OF_THREE = _policy("group two-of-three 2 A B C\nquorum two-of-three\n")
NESTED = _policy("group X all A B\ngroup Y any C\ngroup X-and-Y all X Y\nquorum X-and-Y\n")


def _tree() -> tuple[MemoryNodeStore, Checkpoint]:
    store = MemoryNodeStore()
    store.append([leaf_hash(x) for x in LEAVES])
    return store, Checkpoint(ORIGIN, len(LEAVES), root_at(len(LEAVES), store))


def _note(cosigners: tuple[str, ...]) -> bytes:
    _, checkpoint = _tree()
    note = sign_checkpoint(checkpoint, [LOG]).decode()
    for n in cosigners:
        name, key = WITNESSES[n]
        note += cosign(checkpoint.to_text(), key, name, TIMESTAMP)
    return note.encode()


def _proof(cosigners: tuple[str, ...], index: int = 7) -> TlogProof:
    store, checkpoint = _tree()
    proof = tuple(inclusion_proof(index, checkpoint.size, store))
    return TlogProof(index, proof, _note(cosigners), extra=LEAVES[index])


SUBSETS = [c for r in range(4) for c in itertools.combinations("ABC", r)]


@pytest.mark.parametrize("cosigners", SUBSETS, ids=lambda c: "+".join(c) or "none")
def test_two_of_three(cosigners: tuple[str, ...]) -> None:
    policy = WitnessPolicy.parse(TWO_OF_THREE)
    if len(cosigners) >= 2:
        assert policy.check(_note(cosigners)).cosigners == cosigners
    else:
        with pytest.raises(QuorumNotMet, match="two-of-three"):
            policy.check(_note(cosigners))


def test_nested_groups_and_none() -> None:
    policy = WitnessPolicy.parse(NESTED)
    policy.check(_note(("A", "B", "C")))
    for missing in ("A", "B", "C"):
        with pytest.raises(QuorumNotMet):
            policy.check(_note(tuple(n for n in "ABC" if n != missing)))
    assert WitnessPolicy.parse(_policy("quorum none\n")).check(_note(())).cosigners == ()
    assert WitnessPolicy.parse(_policy("quorum B\n")).check(_note(("B",))).cosigners == ("B",)


def test_the_0x01_key_form_names_the_same_witness() -> None:
    name, key = WITNESSES["A"]
    a = format_verifier_key(name, key.public_key())
    text = f"log {LOG.verifier().to_key_string()}\nwitness A {a}\nquorum A\n"
    assert WitnessPolicy.parse(text).check(_note(("A",))).cosigners == ("A",)


def test_a_bad_cosignature_or_an_unknown_log_fails_closed() -> None:
    policy = WitnessPolicy.parse(TWO_OF_THREE)
    note = bytearray(_note(("A", "B", "C")))
    note[-10] ^= 1  # C's cosignature: a known key whose signature fails
    with pytest.raises(SignatureError):
        policy.check(bytes(note))
    other = Ed25519NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x32" * 32))
    _, checkpoint = _tree()
    with pytest.raises(SignatureError):
        policy.check(sign_checkpoint(checkpoint, [other]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_policy(""), "no quorum line"),
        (_policy("quorum A\nquorum B\n"), "second quorum"),
        (_policy("quorum D\n"), "not defined above"),
        (_policy("group g 2 A A\nquorum g\n"), "member twice"),
        (_policy("group g 4 A B C\nquorum g\n"), "outside 1..3"),
        (_policy("group g 0 A\nquorum g\n"), "threshold"),
        (_policy("group g any D\nquorum g\n"), "not a witness or group"),
        (_policy("group A any B\nquorum A\n"), "defined twice"),
        (_policy("group all any B\nquorum all\n"), "keyword"),
        (_policy(f"witness D {_vkey('A')}\nquorum D\n"), "already in the policy"),
        (_policy("quorum none\x01\n"), "control character"),
        (_policy("quorum none\nfrobnicate x\n"), "not a policy line"),
    ],
)
def test_malformed_policies_are_refused(text: str, message: str) -> None:
    with pytest.raises(PolicyFormatError, match=message):
        WitnessPolicy.parse(text)


def test_tlog_proof_round_trip_and_a_wrong_leaf() -> None:
    proof = _proof(("A", "C"))
    text = proof.to_text()
    assert text.startswith(b"c2sp.org/tlog-proof@v1\nextra ")
    assert TlogProof.parse(text) == proof
    policy = WitnessPolicy.parse(TWO_OF_THREE)
    assert proof.verify(LEAVES[7], policy).cosigners == ("A", "C")
    with pytest.raises(ProofError):
        proof.verify(LEAVES[8], policy)
    without_extra = TlogProof(proof.index, proof.proof, proof.checkpoint)
    assert TlogProof.parse(without_extra.to_text()).extra is None


@pytest.fixture(scope="module")
def proofpolicy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(shutil.which("go"), "the Go toolchain is not installed (needed for tests/interop)")
    out = tmp_path_factory.mktemp("go") / "proofpolicy"
    build = subprocess.run(
        ["go", "build", "-mod=readonly", "-o", str(out), "./proofpolicy"],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    return out


@pytest.mark.parametrize("policy_text", [TWO_OF_THREE, NESTED], ids=["2-of-3", "nested"])
def test_formats_agrees_on_proofs_and_quorums(
    proofpolicy: Path, tmp_path: Path, policy_text: str
) -> None:
    policy_file = tmp_path / "policy"
    policy_file.write_text(policy_text)
    policy = WitnessPolicy.parse(policy_text)
    files, ours = [], {}
    for i, cosigners in enumerate(SUBSETS):
        path = tmp_path / f"p{i}.tlog-proof"
        proof = _proof(cosigners, index=i % len(LEAVES))
        path.write_bytes(proof.to_text())
        files.append(str(path))
        try:
            proof.verify(LEAVES[proof.index], policy)
            ours[str(path)] = True
        except QuorumNotMet:
            ours[str(path)] = False
    result = subprocess.run(
        [str(proofpolicy), str(policy_file), LOG.verifier().to_key_string(), *files],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    theirs = dict(line.rsplit(" quorum=", 1) for line in result.stdout.splitlines())
    assert {k: v == "true" for k, v in theirs.items()} == ours
    assert sorted(ours.values()) != [ours[files[0]]] * len(files)  # both verdicts occur
