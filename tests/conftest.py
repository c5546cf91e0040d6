"""Shared fixtures: services the tests need, and a real federation on loopback.

A test that needs a service (PostgreSQL, the OPA binary, Go) skips when it is
missing on a developer's machine, and fails instead when CI=true: CI must
provide everything.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.protocol.model import Filter, Op

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: object, reason: str) -> None:
    """Skip when `condition` is false, but fail under CI, where every service must exist."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


def require_opa() -> Path:
    """The OPA binary (`make tools` builds it), or skip; under CI, fail."""
    from gateway.policy import find_opa_binary

    binary = find_opa_binary()
    require(binary, "no opa binary (run `make tools`, or set GERBANG_OPA_BINARY)")
    assert binary is not None
    return binary


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the server in GERBANG_TEST_PG_URL."""
    server = os.environ.get("GERBANG_TEST_PG_URL")
    require(server, "GERBANG_TEST_PG_URL is not set (a PostgreSQL server for the tests)")
    assert server is not None
    name = f"gerbang_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test against the embedded default and the production store."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


WIB = dt.timezone(dt.timedelta(hours=7))


def month_window(year: int, month: int, months: int = 1) -> tuple[Filter, Filter]:
    """`occurred_at` ge and lt whole local (WIB) months: the window every aggregate-only
    purpose's counts need (on its time grid, docs/adr/0009)."""
    index = year * 12 + month - 1 + months
    end = dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=WIB)
    start = dt.datetime(year, month, 1, tzinfo=WIB)
    return Filter("occurred_at", Op.GE, (start,)), Filter("occurred_at", Op.LT, (end,))
