"""C2SP signed notes, tlog-checkpoint bodies and tlog-cosignature/v1 cosignatures.

Byte-exact against the golang.org/x/mod/sumdb/note vector in
../shared/vectors/note/go-sumdb-note.json and the examples printed in the C2SP
tlog-checkpoint and tlog-cosignature specifications; the Go interop test
(test_interop_go.py) checks the other direction with the Go libraries.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import (
    CheckpointFormatError,
    ConfigurationError,
    NoteFormatError,
    SignatureError,
    UntrustedInputError,
)
from gateway.tlog.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    cosign,
    cosignature_key_id,
    cosignature_message,
    format_cosigner_key,
    open_checkpoint,
    parse_cosigner_key,
    sign_checkpoint,
    verify_cosignature,
)
from gateway.tlog.note import (
    MAX_SIGNATURES,
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    encode_verifier_key,
    format_signer_key,
    format_verifier_key,
    generate_signer_key,
    key_id,
    open_note,
    parse_signature_line,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
)

VECTOR_FILE = (
    Path(__file__).resolve().parents[2] / "shared" / "vectors" / "note" / "go-sumdb-note.json"
)


@pytest.fixture(scope="module")
def go() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTOR_FILE.read_text())
    return data


def _signer(name: str, seed: int) -> Ed25519NoteSigner:
    return Ed25519NoteSigner(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


# --- the sumdb/note vector ----------------------------------------------------


def test_go_vector_key_id_derivation(go: dict[str, Any]) -> None:
    signer = parse_signer_key(go["signer_key"])
    public = base64.b64decode(go["verifier_key"].split("+")[2])[1:]
    expected = hashlib.sha256(go["key_name"].encode() + b"\n\x01" + public).digest()[:4]
    assert expected.hex() == go["key_id_hex"]
    assert key_id(go["key_name"], 0x01, public) == expected
    assert signer.key_id == expected
    assert parse_verifier_key(go["verifier_key"]).key_id == expected


def test_go_vector_signing_is_byte_exact(go: dict[str, Any]) -> None:
    signer = parse_signer_key(go["signer_key"])
    assert sign_note(go["text"], [signer]) == go["signed_note"].encode()


def test_go_vector_opens(go: dict[str, Any]) -> None:
    note = open_note(go["signed_note"].encode(), [parse_verifier_key(go["verifier_key"])])
    assert note.text == go["text"]
    assert [(s.name, s.key_id.hex()) for s in note.signatures] == [
        (go["key_name"], go["key_id_hex"])
    ]
    assert note.unverified_signatures == ()


def test_go_vector_key_strings_round_trip(go: dict[str, Any]) -> None:
    signer = parse_signer_key(go["signer_key"])
    assert format_signer_key(signer.name, signer.private_key) == go["signer_key"]
    assert format_verifier_key(signer.name, signer.private_key.public_key()) == go["verifier_key"]
    assert signer.verifier().to_key_string() == go["verifier_key"]


def test_every_bit_flip_of_the_go_note_is_rejected(go: dict[str, Any]) -> None:
    note = go["signed_note"].encode()
    verifier = parse_verifier_key(go["verifier_key"])
    for bit in range(len(note) * 8):
        tampered = bytearray(note)
        tampered[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises((NoteFormatError, SignatureError)):
            open_note(bytes(tampered), [verifier])


# --- signing and opening -----------------------------------------------------

note_text = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs"], exclude_characters=[chr(c) for c in range(0x20)]
    )
    | st.just("\n"),
    max_size=200,
).map(lambda s: s + "\n")


@given(text=note_text)
def test_sign_open_round_trip(text: str) -> None:
    signer = _signer("log.example/a", 1)
    note = open_note(sign_note(text, [signer]), [signer.verifier()])
    assert note.text == text


def test_unknown_signatures_are_kept_but_not_trusted() -> None:
    log, other = _signer("log.example/a", 1), _signer("witness.example/w", 2)
    note = open_note(sign_note("hello\n", [log, other]), [log.verifier()])
    assert [s.name for s in note.signatures] == ["log.example/a"]
    assert [s.name for s in note.unverified_signatures] == ["witness.example/w"]


def test_note_signed_only_by_unknown_keys_is_rejected() -> None:
    log, other = _signer("log.example/a", 1), _signer("log.example/a", 2)
    # Same name, different key: a different key ID, so unknown, so untrusted.
    with pytest.raises(SignatureError, match="not signed by any trusted key"):
        open_note(sign_note("hello\n", [other]), [log.verifier()])


def test_a_failing_signature_from_a_known_key_rejects_the_note() -> None:
    log, other = _signer("log.example/a", 1), _signer("log.example/b", 2)
    good = sign_note("hello\n", [log, other]).decode()
    # Replace b's signature bytes with a's, under b's name and key ID.
    lines = good.splitlines(keepends=True)
    sig_a = base64.b64decode(lines[2].split()[2])[4:]
    lines[3] = f"\u2014 log.example/b {base64.b64encode(other.key_id + sig_a).decode()}\n"
    with pytest.raises(SignatureError, match=r"log\.example/b .* does not verify"):
        open_note("".join(lines).encode(), [log.verifier(), other.verifier()])


def test_text_may_contain_blank_lines_and_signature_like_lines() -> None:
    log = _signer("log.example/a", 1)
    text = "a\n\n\u2014 log.example/a AAAAAAA=\n"
    note = open_note(sign_note(text, [log]), [log.verifier()])
    assert note.text == text


SIG = "\u2014 log.example/a " + base64.b64encode(b"\x00" * 68).decode() + "\n"


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (b"hello\n" + SIG.encode(), "no blank line"),
        (b"hello\n\n", "no signature lines"),
        (b"hello\n\n" + SIG.encode()[:-1], "does not end in a newline"),
        (b"hello\n\n-- log.example/a AAAAAAA=\n", "em dash"),
        ("hello\n\n\u2014 log+a AAAAAAA=\n".encode(), "contains '\\+'"),
        ("hello\n\n\u2014 log.example/a\n".encode(), "has no signature"),
        ("hello\n\n\u2014 log.example/a \n".encode(), "has no signature"),
        ("hello\n\n\u2014 log.example/a AAAA\n".encode(), "too short"),
        ("hello\n\n\u2014 log.example/a AAAAAB==\n".encode(), "not canonical"),
        ("hello\n\n\u2014 log.example/a AA!AAAAA\n".encode(), "not standard base64"),
        ("hello\n\n\u2014 log.example/a  AAAAAAA=\n".encode(), "not standard base64"),
        (b"hel\xfflo\n\n" + SIG.encode(), "not valid UTF-8"),
        (b"hel\rlo\n\n" + SIG.encode(), "control character"),
        (b"hello\n\n" + SIG.encode() * (MAX_SIGNATURES + 1), "limit is 100"),
        (b"x" * (1 << 20) + b"\n\n" + SIG.encode(), "limit is"),
    ],
)
def test_malformed_notes_are_rejected_with_a_reason(note: bytes, reason: str) -> None:
    with pytest.raises(NoteFormatError, match=reason):
        open_note(note, [_signer("log.example/a", 1).verifier()])


def test_open_without_trusted_keys_fails_closed() -> None:
    log = _signer("log.example/a", 1)
    with pytest.raises(ConfigurationError, match="no trusted keys"):
        open_note(sign_note("hello\n", [log]), [])


def test_open_with_ambiguous_trusted_keys_is_a_configuration_error() -> None:
    v = _signer("log.example/a", 1).verifier()
    with pytest.raises(ConfigurationError, match="share name"):
        open_note(b"", [v, Ed25519NoteVerifier(v.name, v.public_key)])


@pytest.mark.parametrize(
    ("text", "reason"),
    [("no newline", "end with a newline"), ("tab\there\n", "control character"), ("", "end with")],
)
def test_sign_rejects_malformed_text(text: str, reason: str) -> None:
    with pytest.raises(NoteFormatError, match=reason):
        sign_note(text, [_signer("log.example/a", 1)])


def test_sign_needs_distinct_signers() -> None:
    with pytest.raises(ConfigurationError):
        sign_note("hello\n", [])
    s = _signer("log.example/a", 1)
    with pytest.raises(ConfigurationError, match="given twice"):
        sign_note("hello\n", [s, s])


@pytest.mark.parametrize("name", ["", "has space", "has+plus", "nbsp\u00a0here", "tab\tname"])
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(NoteFormatError):
        _signer(name, 1)


# --- key strings ---------------------------------------------------------------


def test_generated_keys_work_together() -> None:
    skey, vkey = generate_signer_key("log.example/gen")
    signer, verifier = parse_signer_key(skey), parse_verifier_key(vkey)
    assert signer.key_id == verifier.key_id
    open_note(sign_note("x\n", [signer]), [verifier])


def test_verifier_key_errors(go: dict[str, Any]) -> None:
    name, kid, b64 = go["verifier_key"].split("+")
    with pytest.raises(NoteFormatError, match="does not match"):
        parse_verifier_key(f"{name}+{int(kid, 16) ^ 1:08x}+{b64}")
    with pytest.raises(NoteFormatError, match="does not match"):
        parse_verifier_key(f"Other+{kid}+{b64}")
    with pytest.raises(NoteFormatError, match="8 hex digits"):
        parse_verifier_key(f"{name}+{kid[:7]}_+{b64}")
    with pytest.raises(NoteFormatError, match="8 hex digits"):
        parse_verifier_key(name)
    with pytest.raises(NoteFormatError, match="base64"):
        parse_verifier_key(f"{name}+{kid}+{b64[:-1]}")
    # Uppercase hex is accepted, as sumdb/note's strconv.ParseUint does.
    assert parse_verifier_key(f"{name}+{kid.upper()}+{b64}").key_id.hex() == kid
    # A cosigner (0x04) key is not a note-signing key, and vice versa.
    public = base64.b64decode(b64)[1:]
    with pytest.raises(NoteFormatError, match="signature type 0x04"):
        parse_verifier_key(encode_verifier_key(name, 0x04, public))
    with pytest.raises(NoteFormatError, match="32 bytes"):
        parse_verifier_key(encode_verifier_key(name, 0x01, public[:31]))


def test_signer_key_errors_never_echo_the_secret(go: dict[str, Any]) -> None:
    skey: str = go["signer_key"]
    secret = skey.rsplit("+", 1)[1]
    for bad in [
        skey.replace("PRIVATE+KEY", "PRIVATE+KEX"),
        skey.replace("c74f20a3", "c74f20a4"),
        skey[:-2],
        skey.replace("+AYEK", "+AoEK"),  # signature type 0x02
    ]:
        with pytest.raises(NoteFormatError) as info:
            parse_signer_key(bad)
        assert secret not in str(info.value)
        assert secret[:-2] not in str(info.value)


# --- checkpoints -----------------------------------------------------------------

# The example in https://c2sp.org/tlog-checkpoint and tlog-cosignature.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
SPEC_COSIGNATURE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZC"
    "B9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def test_spec_checkpoint_parses_and_formats_back() -> None:
    cp = Checkpoint.parse(SPEC_CHECKPOINT)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.to_text() == SPEC_CHECKPOINT


origins = st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=40)


@given(
    origin=origins,
    size=st.integers(min_value=0, max_value=2**63 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(origins, max_size=3).map(tuple),
)
def test_checkpoint_text_round_trip(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    cp = Checkpoint(origin, size, root, extensions)
    assert Checkpoint.parse(cp.to_text()) == cp


ROOT = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"log\n5\n{ROOT}", "does not end in a newline"),
        ("log\n5\n", "it needs origin, tree size and root hash"),
        (f"\n5\n{ROOT}\n", "origin is empty"),
        (f"lo\rg\n5\n{ROOT}\n", "control character"),
        (f"log\n05\n{ROOT}\n", "leading zeroes"),
        (f"log\n-5\n{ROOT}\n", "not a decimal"),
        (f"log\n+5\n{ROOT}\n", "not a decimal"),
        (f"log\n 5\n{ROOT}\n", "not a decimal"),
        (f"log\n1_000\n{ROOT}\n", "not a decimal"),
        (f"log\n\u0665\n{ROOT}\n", "not a decimal"),  # ARABIC-INDIC DIGIT FIVE
        (f"log\n{2**63}\n{ROOT}\n", "outside"),
        ("log\n5\nnot base64!\n", "not standard base64"),
        (f"log\n5\n{ROOT[:-2]}J=\n", "not canonical"),
        ("log\n5\nAAAA\n", "3 bytes"),
        (f"log\n5\n{ROOT}\n\n", "extension line 1 is empty"),
        (f"log\n5\n{ROOT}\next\n\n", "extension line 2 is empty"),
    ],
)
def test_malformed_checkpoints_are_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(CheckpointFormatError, match=reason):
        Checkpoint.parse(text)


def test_checkpoint_constructor_validates() -> None:
    with pytest.raises(CheckpointFormatError):
        Checkpoint("log", -1, b"\x00" * 32)
    with pytest.raises(CheckpointFormatError):
        Checkpoint("log", 1, b"\x00" * 31)
    with pytest.raises(CheckpointFormatError):
        Checkpoint("two\nlines", 1, b"\x00" * 32)
    with pytest.raises(CheckpointFormatError):
        Checkpoint("log", 1, b"\x00" * 32, ("bad\nline",))


def test_signed_checkpoint_opens_for_its_log_only() -> None:
    log = _signer("gerbang.example/log", 1)
    cp = Checkpoint("gerbang.example/log", 7, bytes(range(32)))
    note = sign_checkpoint(cp, [log])
    assert open_checkpoint(note, log.verifier(), "gerbang.example/log") == cp
    with pytest.raises(UntrustedInputError, match=r"expected 'other\.example/log'"):
        open_checkpoint(note, log.verifier(), "other.example/log")
    with pytest.raises(SignatureError):
        open_checkpoint(note, _signer("gerbang.example/log", 2).verifier(), cp.origin)


# --- cosignatures -------------------------------------------------------------------


def test_spec_cosignature_line_layout() -> None:
    # We do not have the spec witness's public key, but its line shows the
    # layout: key ID, then the 8-byte timestamp of its example message.
    sig = parse_signature_line(SPEC_COSIGNATURE)
    assert sig.name == "witness.example.com/w1"
    assert len(sig.key_id) == 4
    assert len(sig.signature) == 8 + 64
    assert int.from_bytes(sig.signature[:8], "big") == 1679315147


def test_cosignature_message_is_the_spec_example() -> None:
    assert cosignature_message(SPEC_CHECKPOINT, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + SPEC_CHECKPOINT.encode()
    )


WITNESS = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
WITNESS_NAME = "oversight.example/w1"


def test_cosign_and_verify() -> None:
    line = cosign(SPEC_CHECKPOINT, WITNESS, WITNESS_NAME, 1679315147)
    witness = CosignatureVerifier(WITNESS_NAME, WITNESS.public_key())
    got = verify_cosignature(SPEC_CHECKPOINT, line, witness)
    assert (got.name, got.timestamp) == (WITNESS_NAME, 1679315147)
    # The line is key ID || big-endian timestamp || Ed25519 over the message.
    raw = base64.b64decode(line.split()[2])
    assert raw[:4] == cosignature_key_id(WITNESS_NAME, WITNESS.public_key())
    assert raw[4:12] == (1679315147).to_bytes(8, "big")
    WITNESS.public_key().verify(raw[12:], cosignature_message(SPEC_CHECKPOINT, 1679315147))


def test_cosignature_key_id_uses_type_0x04() -> None:
    public = WITNESS.public_key()
    note_key_id = Ed25519NoteSigner(WITNESS_NAME, WITNESS).key_id
    assert cosignature_key_id(WITNESS_NAME, public) != note_key_id
    raw = base64.b64decode(format_cosigner_key(WITNESS_NAME, public).split("+")[2])
    expected = hashlib.sha256(WITNESS_NAME.encode() + b"\n\x04" + raw[1:]).digest()[:4]
    assert raw[0] == 0x04
    assert cosignature_key_id(WITNESS_NAME, public) == expected
    assert parse_cosigner_key(format_cosigner_key(WITNESS_NAME, public)).key_id == expected


def test_tampered_cosignatures_are_rejected() -> None:
    witness = CosignatureVerifier(WITNESS_NAME, WITNESS.public_key())
    line = cosign(SPEC_CHECKPOINT, WITNESS, WITNESS_NAME, 1679315147)
    raw = bytearray(base64.b64decode(line.split()[2]))
    raw[11] ^= 1  # the timestamp
    later = f"\u2014 {WITNESS_NAME} {base64.b64encode(raw).decode()}\n"
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignature(SPEC_CHECKPOINT, later, witness)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignature(SPEC_CHECKPOINT.replace("20852163", "20852164"), line, witness)
    other = CosignatureVerifier("oversight.example/w2", WITNESS.public_key())
    with pytest.raises(SignatureError, match="not by witness"):
        verify_cosignature(SPEC_CHECKPOINT, line, other)
    with pytest.raises(NoteFormatError):
        cosign("not a checkpoint\n", WITNESS, WITNESS_NAME, 1)
    with pytest.raises(SignatureError, match="outside"):
        cosign(SPEC_CHECKPOINT, WITNESS, WITNESS_NAME, 2**63)


def test_cosigned_checkpoint_opens_with_log_and_witness_keys() -> None:
    log = _signer("gerbang.example/log", 1)
    cp = Checkpoint("gerbang.example/log", 7, bytes(range(32)))
    note = sign_checkpoint(cp, [log])
    note += cosign(cp.to_text(), WITNESS, WITNESS_NAME, 1700000000).encode()
    witness = CosignatureVerifier(WITNESS_NAME, WITNESS.public_key())
    opened = open_note(note, [log.verifier(), witness])
    assert [s.name for s in opened.signatures] == ["gerbang.example/log", WITNESS_NAME]
    # The log's own verification ignores the cosignature.
    assert open_checkpoint(note, log.verifier(), cp.origin) == cp
