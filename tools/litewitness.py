"""Run torchwood's litewitness, a standard C2SP tlog-witness, on loopback for one log.

For the demonstration and the interop tests: `make tools` installs `litewitness` and
`witnessctl` (filippo.io/torchwood, pinned). litewitness keeps its Ed25519 key in an
ssh-agent; this starts a dedicated agent, loads a fresh key into it, registers the log
(origin and verifier key) with witnessctl, starts litewitness, and stops both on exit.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import ConfigurationError
from gateway.tlog.note import raw_public_key


@dataclass(frozen=True)
class RunningWitness:
    url: str
    vkey: str  # as litewitness reports it: the cosignature/v1 (0x04) key
    key: Ed25519PrivateKey


def find_tools() -> tuple[Path, Path] | None:
    """(litewitness, witnessctl) from PATH or `go env GOPATH`/bin, or None."""
    bindir = None
    if shutil.which("go"):
        out = subprocess.run(
            ["go", "env", "GOPATH"], capture_output=True, text=True, timeout=30, check=False
        )
        bindir = Path(out.stdout.strip()) / "bin"
    found = []
    for name in ("litewitness", "witnessctl"):
        path = shutil.which(name) or (str(bindir / name) if bindir else None)
        if not path or not Path(path).exists():
            return None
        found.append(Path(path))
    if not shutil.which("ssh-agent") or not shutil.which("ssh-add"):
        return None
    return found[0], found[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def litewitness(
    workdir: Path, name: str, origin: str, log_vkey: str, tools: tuple[Path, Path]
) -> Iterator[RunningWitness]:
    """litewitness named `name`, witnessing the log `origin` signed by `log_vkey`."""
    binary, ctl = tools
    workdir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = workdir / "witness.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    pem.chmod(0o600)
    sock = workdir / "agent.sock"
    sock.unlink(missing_ok=True)
    procs = [subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", str(pem)], env=env, check=True, capture_output=True, timeout=10)
        db = workdir / "litewitness.db"
        db.unlink(missing_ok=True)  # a fresh key: a fresh state
        for args in (
            ["add-log", "-origin", origin],
            ["add-key", "-origin", origin, "-key", log_vkey],
        ):
            subprocess.run(
                [str(ctl), args[0], "-db", str(db), *args[1:]],
                check=True,
                capture_output=True,
                timeout=30,
            )
        port = _free_port()
        log = workdir / "litewitness.log"
        fingerprint = hashlib.sha256(raw_public_key(key.public_key())).hexdigest()
        command = [str(binary), "-db", str(db), "-name", name, "-ssh-agent", str(sock)]
        command += ["-key", fingerprint, "-listen", f"127.0.0.1:{port}"]
        with open(log, "wb") as err:
            procs.append(subprocess.Popen(command, stderr=err))
        deadline = time.monotonic() + 20
        while True:
            if procs[-1].poll() is not None:
                raise ConfigurationError(f"litewitness exited: {log.read_text()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ConfigurationError("litewitness did not start listening") from None
                time.sleep(0.1)
        found = re.search(r"vkey=(\S+)", log.read_text())
        if found is None:
            raise ConfigurationError(f"litewitness did not report its key: {log}")
        yield RunningWitness(f"http://127.0.0.1:{port}", found.group(1), key)
    finally:
        for p in reversed(procs):
            _stop(p)
