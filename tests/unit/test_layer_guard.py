"""The unit layer's guard (tests/unit/conftest.py) refuses processes and IP sockets."""

from __future__ import annotations

import socket
import subprocess

import pytest


def test_a_unit_test_cannot_open_a_connection() -> None:
    with pytest.raises(AssertionError, match="a unit test may not connect"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_a_unit_test_cannot_listen() -> None:
    with socket.socket() as s, pytest.raises(AssertionError, match="may not listen"):
        s.bind(("127.0.0.1", 0))


def test_a_unit_test_cannot_start_a_process() -> None:
    with pytest.raises(AssertionError, match="may not start a process"):
        subprocess.run(["true"], check=False)


def test_local_socket_pairs_stay_allowed() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"x")
        assert b.recv(1) == b"x"
