"""The unit layer: no processes, no network sockets (docs/adr/0027-layered-tests.md).

Each unit module runs with `subprocess.Popen` and the binding and connecting of IP sockets
refused, so a test that starts a process or a server belongs in tests/integration or
tests/e2e and fails here saying so. (Local socket pairs, as asyncio's event loop makes for
itself, are not IP sockets and stay allowed; gRPC's own C sockets are not Python's, which
is why the in-memory federation has no gRPC server or channel at all.)
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

_IP = (socket.AF_INET, socket.AF_INET6)


class LayerViolation(AssertionError):
    """A unit test reached for a process or the network."""


def _refuse(what: str) -> NoReturn:
    raise LayerViolation(
        f"a unit test may not {what}; move the test to tests/integration or tests/e2e"
    )


@pytest.fixture(scope="module", autouse=True)
def no_processes_or_sockets() -> Iterator[None]:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_bind = socket.socket.bind

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in _IP:
            _refuse(f"connect to {address!r}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in _IP:
            _refuse(f"connect to {address!r}")
        return real_connect_ex(self, address)

    def bind(self: socket.socket, address: Any) -> None:
        if self.family in _IP:
            _refuse(f"listen on {address!r}")
        real_bind(self, address)

    def popen(self: subprocess.Popen[Any], args: Any, *_: Any, **__: Any) -> None:
        _refuse(f"start a process ({args!r})")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(socket.socket, "connect", connect)
        m.setattr(socket.socket, "connect_ex", connect_ex)
        m.setattr(socket.socket, "bind", bind)
        m.setattr(subprocess.Popen, "__init__", popen)
        yield
