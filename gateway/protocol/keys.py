"""The federation's key registry (public halves) and each party's keystore (private halves).

Every caller system has an Ed25519 request-signing key and an X25519 HPKE key;
the gateway has an Ed25519 plan key; each adapter an Ed25519 result key. The
registry (`registry.json`) lists the public halves with their owner (a SPIFFE
ID), validity window and revocation; every party reads it, and re-reads it when
it changes, so a rotation or revocation takes effect without a restart. A
keystore is a directory of private keys, one file per key, mode 0600.

Rotation adds a new key and ends the old one's validity after an overlap
window, so requests and results in flight still verify; revocation refuses a
key at once. A key ID is the first 8 bytes of SHA-256(kind || public key), hex.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from gateway.errors import ConfigurationError, SignatureError

KeyKind = Literal["signing", "hpke"]
KINDS: Final = ("signing", "hpke")


def key_id(kind: str, public: bytes) -> str:
    return hashlib.sha256(kind.encode() + b"\n" + public).hexdigest()[:16]


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _text(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


@dataclass(frozen=True)
class RegisteredKey:
    owner: str
    kind: str
    key_id: str
    public: bytes
    not_before: dt.datetime
    not_after: dt.datetime | None = None
    revoked: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigurationError(f"key {self.key_id}: unknown kind {self.kind!r}")
        if len(self.public) != 32:
            raise ConfigurationError(f"key {self.key_id}: public key is not 32 bytes")
        if key_id(self.kind, self.public) != self.key_id:
            raise ConfigurationError(f"key {self.key_id}: ID does not match the public key")

    def problem_at(self, at: dt.datetime) -> str | None:
        """Why this key may not be used at `at`, or None."""
        if self.revoked:
            return f"key {self.key_id} of {self.owner} is revoked"
        if at < self.not_before:
            return f"key {self.key_id} of {self.owner} is not valid before {self.not_before}"
        if self.not_after is not None and at > self.not_after:
            return f"key {self.key_id} of {self.owner} expired at {self.not_after}"
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "owner": self.owner,
            "kind": self.kind,
            "key_id": self.key_id,
            "public": base64.b64encode(self.public).decode(),
            "not_before": _text(self.not_before),
            "not_after": _text(self.not_after),
            "revoked": self.revoked,
        }

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> RegisteredKey:
        try:
            return cls(
                owner=str(doc["owner"]),
                kind=str(doc["kind"]),
                key_id=str(doc["key_id"]),
                public=base64.b64decode(str(doc["public"]), validate=True),
                not_before=_time(str(doc["not_before"])) or dt.datetime.min.replace(tzinfo=dt.UTC),
                not_after=_time(na) if isinstance(na := doc.get("not_after"), str) else None,
                revoked=bool(doc.get("revoked", False)),
            )
        except (KeyError, ValueError) as e:
            raise ConfigurationError(f"malformed key registry entry {doc!r}: {e}") from e


@dataclass(frozen=True)
class KeyRegistry:
    keys: tuple[RegisteredKey, ...]

    @classmethod
    def load(cls, path: Path) -> KeyRegistry:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError as e:
            raise ConfigurationError(f"no key registry at {path}; run `gerbang keys init`") from e
        keys = tuple(RegisteredKey.from_json(k) for k in doc.get("keys", []))
        ids = [k.key_id for k in keys]
        if len(set(ids)) != len(ids):
            raise ConfigurationError(f"{path}: a key ID appears twice")
        return cls(keys)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"keys": [k.to_json() for k in self.keys]}, indent=2) + "\n")
        tmp.replace(path)

    @cached_property
    def _by_id(self) -> dict[str, RegisteredKey]:
        # Every signature check looks its key up: by ID, not by a scan of the registry.
        by_id: dict[str, RegisteredKey] = {}
        for k in self.keys:
            by_id.setdefault(k.key_id, k)  # the first, as a scan would find it
        return by_id

    @cached_property
    def _ed25519_keys(self) -> dict[bytes, Ed25519PublicKey]:
        return {}

    def find(self, key_id_: str) -> RegisteredKey | None:
        return self._by_id.get(key_id_)

    def usable(self, owner: str, kind: KeyKind, key_id_: str, at: dt.datetime) -> RegisteredKey:
        """The registered key, if it is `owner`'s key of `kind` and valid at `at`; else raise."""
        key = self.find(key_id_)
        if key is None:
            # Not the ID asked for: it is what the caller sent, and the reason is logged.
            raise SignatureError(f"the {kind} key named is not in the federation's key registry")
        if key.owner != owner:
            raise SignatureError(f"key {key_id_} belongs to {key.owner}, not to {owner}")
        if key.kind != kind:
            raise SignatureError(f"key {key_id_} is a {key.kind} key, not a {kind} key")
        problem = key.problem_at(at)
        if problem is not None:
            raise SignatureError(problem)
        return key

    def ed25519(self, owner: str, key_id_: str, at: dt.datetime) -> Ed25519PublicKey:
        public = self.usable(owner, "signing", key_id_, at).public
        parsed = self._ed25519_keys.get(public)
        if parsed is None:
            parsed = self._ed25519_keys[public] = Ed25519PublicKey.from_public_bytes(public)
        return parsed

    def hpke_key_of(self, owner: str, public: bytes, at: dt.datetime) -> RegisteredKey:
        """The registered HPKE key with these public bytes, if it is `owner`'s and valid."""
        return self.usable(owner, "hpke", key_id("hpke", public), at)

    def current(self, owner: str, kind: KeyKind, at: dt.datetime) -> RegisteredKey:
        """The newest of `owner`'s keys of `kind` valid at `at`: the one to use now."""
        valid = [
            k for k in self.keys if k.owner == owner and k.kind == kind and not k.problem_at(at)
        ]
        if not valid:
            raise ConfigurationError(f"{owner} has no valid {kind} key in the registry")
        return max(valid, key=lambda k: k.not_before)

    def with_keys(self, keys: Iterable[RegisteredKey]) -> KeyRegistry:
        return KeyRegistry((*self.keys, *keys))

    def rotated(
        self, owner: str, kind: KeyKind, new: RegisteredKey, overlap: dt.timedelta
    ) -> KeyRegistry:
        """Add `new`; the owner's older keys of this kind stay valid for `overlap` more."""
        end = new.not_before + overlap
        updated = tuple(
            replace(k, not_after=min(end, k.not_after) if k.not_after else end)
            if k.owner == owner and k.kind == kind and not k.revoked
            else k
            for k in self.keys
        )
        return KeyRegistry((*updated, new))

    def revoked(self, key_id_: str) -> KeyRegistry:
        if self.find(key_id_) is None:
            raise ConfigurationError(f"no key {key_id_} in the registry")
        return KeyRegistry(
            tuple(replace(k, revoked=True) if k.key_id == key_id_ else k for k in self.keys)
        )


class RegistryFile:
    """The registry at a path, re-read when the file changes (rotation without restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fspath = os.fspath(path)
        self._stamp: tuple[int, int] | None = None
        self._registry = KeyRegistry(())
        self.get()

    def get(self) -> KeyRegistry:
        st = os.stat(self._fspath)  # every signature check asks: no pathlib on the way
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._registry = KeyRegistry.load(self.path)
            self._stamp = stamp
        return self._registry


@dataclass(frozen=True)
class Keystore:
    """The private keys of one party: `<dir>/<kind>-<key_id>.key`, base64 of the raw key."""

    directory: Path

    def _write(self, kind: str, kid: str, raw: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{kind}-{kid}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(raw).decode() + "\n")

    def _read(self, kind: str, kid: str) -> bytes:
        path = self.directory / f"{kind}-{kid}.key"
        try:
            return base64.b64decode(path.read_text().strip())
        except FileNotFoundError as e:
            raise ConfigurationError(f"no private {kind} key {kid} in {self.directory}") from e

    def new_key(self, owner: str, kind: KeyKind, not_before: dt.datetime) -> RegisteredKey:
        if kind == "signing":
            sk = Ed25519PrivateKey.generate()
            raw, public = sk.private_bytes_raw(), sk.public_key().public_bytes_raw()
        else:
            xk = X25519PrivateKey.generate()
            raw, public = xk.private_bytes_raw(), xk.public_key().public_bytes_raw()
        kid = key_id(kind, public)
        self._write(kind, kid, raw)
        return RegisteredKey(owner, kind, kid, public, not_before)

    def signing_key(self, kid: str) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self._read("signing", kid))

    def hpke_key(self, kid: str) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(self._read("hpke", kid))


@dataclass(frozen=True)
class Signer:
    """A party's current signing key: what it signs with, and the ID verifiers look up."""

    owner: str
    key_id: str
    private_key: Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    @classmethod
    def current(cls, keys_dir: Path, slug: str, owner: str) -> Signer:
        registry = KeyRegistry.load(keys_dir / "registry.json")
        key = registry.current(owner, "signing", dt.datetime.now(dt.UTC))
        return cls(owner, key.key_id, Keystore(keys_dir / slug).signing_key(key.key_id))


def x25519_public(raw: bytes) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(raw)


def init_keys(
    keys_dir: Path, identities: dict[str, tuple[str, tuple[KeyKind, ...]]]
) -> KeyRegistry:
    """Create keys for each identity (slug -> (SPIFFE ID, kinds)) that has none yet."""
    path = keys_dir / "registry.json"
    registry = KeyRegistry.load(path) if path.exists() else KeyRegistry(())
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    added = []
    for slug, (owner, kinds) in identities.items():
        for kind in kinds:
            if any(k.owner == owner and k.kind == kind for k in registry.keys):
                continue
            added.append(Keystore(keys_dir / slug).new_key(owner, kind, now))
    registry = registry.with_keys(added)
    keys_dir.mkdir(parents=True, exist_ok=True)
    registry.save(path)
    return registry
