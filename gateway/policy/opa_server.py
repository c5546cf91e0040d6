"""The OPA server engine: a real `opa run --server` (a sidecar in production), over mTLS.

Decisions go through opa-python-client's `AsyncOpaClient` (POST
/v1/data/gerbang/authz/decision?provenance), each bounded by a timeout; no retry, since a
decision late is a decision denied. The link is mutual TLS under a CA of its own
(`gateway.policy.link`, ADR 0018): what answers on OPA's port without OPA's key is refused
at the handshake.

The revision is computed here from the local copy of the bundle. Before it labels any
decision the engine checks that the server serves exactly that bundle: the same Rego
sources (GET /v1/policies) and the same registry data (GET /v1/data/registry). Then every
decision carries the revision it was made with: OPA serves the bundle staged with a
`.manifest` naming the project's revision (`stage_bundle`), and reports it in the
decision's provenance. A decision made by another revision than the one in force is a
denial that names the revision that decided; no provenance at all is an engine failure.

`OpaServerProcess` stages the bundle and runs `opa run --server --bundle <staged> --addr
127.0.0.1:<port>` with the link's TLS as a child process, for tests and a single host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final
from urllib.parse import quote, urlsplit

from gateway.errors import ConfigurationError, TransportError
from gateway.policy.bundle import DATA_FILE, PolicyBundle, load_bundle
from gateway.policy.decision import Decision
from gateway.policy.engine import PolicyEngineError, decide_fail_closed, input_json
from gateway.policy.link import PolicyLinkTls, TlsOpaClient, init_policy_link

__all__ = ["OpaServerEngine", "OpaServerProcess", "find_opa_binary", "stage_bundle"]

DEFAULT_TIMEOUT: Final = 0.5
VERIFY_TIMEOUT: Final = 5.0
VERIFY_RETRY_SECONDS: Final = 5.0
PACKAGE: Final = "gerbang.authz"
RULE: Final = "decision"
_REVISION: Final = re.compile(r"[0-9a-f]{64}")


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigurationError(
            f"OPA URL {url!r} must look like https://127.0.0.1:8181 (the link is mTLS only)"
        )
    if parts.path not in ("", "/"):
        raise ConfigurationError(f"OPA URL {url!r} must not have a path")
    return parts.hostname, parts.port or 443


def stage_bundle(policies_dir: Path, target: Path) -> str:
    """Copy the bundle's files to `target` with a `.manifest` naming its revision.

    OPA then reports that revision in every decision's provenance. Only the files the
    revision covers are copied (Rego modules and data.json), so the stamp cannot lie about
    what OPA loads. Returns the revision.
    """
    bundle = load_bundle(policies_dir)
    target.mkdir(parents=True, exist_ok=True)
    wanted = {
        path.relative_to(policies_dir)
        for path in policies_dir.rglob("*")
        if path.is_file() and (path.suffix == ".rego" or path.name == DATA_FILE)
    }
    # In place, not a fresh directory: an OPA watching `target` keeps watching it.
    for path in sorted(target.rglob("*"), reverse=True):
        rel = path.relative_to(target)
        if path.is_file() and rel not in wanted and path.name != ".manifest":
            path.unlink()
    for rel in sorted(wanted):
        copy = target / rel
        copy.parent.mkdir(parents=True, exist_ok=True)
        content = (policies_dir / rel).read_bytes()
        if not copy.is_file() or copy.read_bytes() != content:
            _replace(copy, content)
    # Last, and whole: a watching OPA never reads a torn file, and a reload that saw the new
    # files before this line still names the old revision, which the gateway refuses.
    _replace(target / ".manifest", json.dumps({"revision": bundle.revision}).encode())
    return bundle.revision


def _replace(path: Path, content: bytes) -> None:
    """Write `content` to `path` by renaming a finished copy over it."""
    temporary = path.with_name(f".{path.name}.staging")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def _decided_by(answer: object) -> str:
    """The revision OPA says decided, from the provenance of its answer."""
    bundles = answer.get("provenance", {}).get("bundles") if isinstance(answer, dict) else None
    revision = None
    if isinstance(bundles, dict) and len(bundles) == 1:
        (only,) = bundles.values()
        revision = only.get("revision") if isinstance(only, dict) else None
    if not isinstance(revision, str) or not _REVISION.fullmatch(revision):
        raise PolicyEngineError(
            "OPA's answer names no single bundle revision (a SHA-256): serve the bundle "
            "staged with its revision (stage_bundle, ADR 0018)"
        )
    return revision


class OpaServerEngine:
    """`PolicyEngine` asking an OPA server that serves the bundle at `policies_dir`."""

    def __init__(
        self,
        policies_dir: Path,
        url: str,
        *,
        tls: PolicyLinkTls,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Load and validate the local bundle; raise `ConfigurationError` if unusable."""
        self._dir = policies_dir
        self._host, self._port = _address(url)
        self._tls = tls
        self._timeout = timeout
        self._bundle = load_bundle(policies_dir)
        self._client: TlsOpaClient | None = None
        self._client_lock = asyncio.Lock()
        self._verified: str | None = None
        self._last_failed_check = -VERIFY_RETRY_SECONDS
        self._check_failure = ""

    @property
    def revision(self) -> str:
        return self._bundle.revision

    async def _connect(self) -> Any:
        """The client, opened on first use (its HTTP session belongs to the running loop)."""
        async with self._client_lock:
            if self._client is None:
                # The session's own timeout is only a ceiling: each decision is bounded by
                # the engine's timeout, the bundle check by VERIFY_TIMEOUT.
                client = TlsOpaClient(
                    self._tls,
                    host=self._host,
                    port=self._port,
                    timeout=max(self._timeout, VERIFY_TIMEOUT),
                    retries=0,
                )
                await client.__aenter__()
                self._client = client
            return self._client

    async def _served_bundle_matches(self, bundle: PolicyBundle) -> None:
        """Raise `ConfigurationError` unless the server serves `bundle`'s sources and data."""
        client = await self._connect()
        try:
            async with asyncio.timeout(VERIFY_TIMEOUT):
                ids = await client.get_policies_list()
                sources = []
                for policy_id in ids:
                    # Ids are file paths; escaped whole, so a leading "/" survives the URL.
                    answer = await client.get_policy(quote(policy_id, safe=""))
                    sources.append(answer["result"]["raw"])
                registry = (await client.get_data("registry"))["result"]
        except Exception as e:  # aiohttp, opa_client and timeout errors alike
            raise ConfigurationError(f"cannot read the policies OPA serves: {e!r}") from e
        if sorted(sources) != sorted(m.source for m in bundle.modules):
            raise ConfigurationError(
                f"the OPA server at {self._host}:{self._port} serves other Rego modules than "
                f"{bundle.root} (revision {bundle.revision})"
            )
        if registry != bundle.data["registry"]:
            raise ConfigurationError(
                f"the OPA server at {self._host}:{self._port} serves other registry data than "
                f"{bundle.root} (revision {bundle.revision})"
            )

    async def _ensure_verified(self, bundle: PolicyBundle) -> None:
        if self._verified == bundle.revision:
            return
        if time.monotonic() - self._last_failed_check < VERIFY_RETRY_SECONDS:
            raise PolicyEngineError(self._check_failure)
        try:
            await self._served_bundle_matches(bundle)
        except ConfigurationError as e:
            self._last_failed_check = time.monotonic()
            self._check_failure = str(e)
            raise PolicyEngineError(str(e)) from e
        self._verified = bundle.revision

    async def evaluate(self, input_doc: Mapping[str, object]) -> object:
        """The raw decision document; raises `PolicyEngineError` if there is none, or if
        it was made by another revision than the one in force."""
        bundle = self._bundle
        document, revision = await self._evaluate(bundle, input_doc)
        if revision != bundle.revision:
            raise PolicyEngineError(_mismatch(revision, bundle.revision))
        return document

    async def decide(self, input_doc: Mapping[str, object]) -> Decision:
        bundle = self._bundle
        try:
            document, revision = await self._evaluate(bundle, input_doc)
        except PolicyEngineError as e:
            return Decision.engine_error(str(e), revision=bundle.revision)
        if revision != bundle.revision:
            # A denial by the revision that decided: the audit entry names that one.
            return Decision.denied([_mismatch(revision, bundle.revision)], revision=revision)
        return await decide_fail_closed(_ready(document), revision)

    async def _evaluate(
        self, bundle: PolicyBundle, input_doc: Mapping[str, object]
    ) -> tuple[object, str]:
        input_json(input_doc)  # refuse what the embedded engine would refuse
        await self._ensure_verified(bundle)
        client = await self._connect()
        try:
            async with asyncio.timeout(self._timeout):
                answer = await client.query_rule(
                    input_data=dict(input_doc),
                    package_path=PACKAGE,
                    rule_name=RULE,
                    query_params={"provenance": "true"},
                )
        except TimeoutError as e:
            raise PolicyEngineError(f"OPA gave no decision within {self._timeout:g} s") from e
        except Exception as e:  # connection refused, HTTP 500 (eval error), bad JSON, ...
            raise PolicyEngineError(f"OPA request failed: {e!r}") from e
        if not isinstance(answer, dict) or "result" not in answer:
            raise PolicyEngineError("the decision is undefined")
        return answer["result"], _decided_by(answer)

    async def reload(self) -> str:
        """Re-read the local bundle and check the server serves it; then it is in force."""
        bundle = await asyncio.to_thread(load_bundle, self._dir)
        await self._served_bundle_matches(bundle)
        self._bundle = bundle
        self._verified = bundle.revision
        return bundle.revision

    async def close(self) -> None:
        async with self._client_lock:
            if self._client is not None:
                await self._client.close_connection()
                self._client = None


def _mismatch(decided: str, in_force: str) -> str:
    return (
        f"policy revision mismatch: the policy server decided with revision {decided}, "
        f"the gateway holds {in_force}; reload one of them"
    )


async def _ready(document: object) -> object:
    return document


def find_opa_binary() -> Path | None:
    """The `opa` binary: $GERBANG_OPA_BINARY, else on PATH, else in Go's bin directory."""
    configured = os.environ.get("GERBANG_OPA_BINARY")
    if configured:
        return Path(configured)
    found = shutil.which("opa")
    if found:
        return Path(found)
    gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
    candidate = Path(gopath.split(os.pathsep)[0]) / "bin" / "opa"
    return candidate if candidate.is_file() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class OpaServerProcess:
    """`opa run --server` on 127.0.0.1 over the link's mTLS, as a child process.

    The bundle at `policies_dir` is staged (`stage_bundle`) into a private directory with its
    revision; `tls` is the link (a fresh one in a private directory if not given). Use as a
    context manager; `url` is where it listens, `tls` what the engine needs. With
    `watch=True` OPA reloads the staged bundle when it changes: call `restage()` after
    changing the bundle, then the engine's `reload()`.
    """

    def __init__(
        self,
        policies_dir: Path,
        *,
        binary: Path | None = None,
        port: int | None = None,
        watch: bool = False,
        tls: PolicyLinkTls | None = None,
    ) -> None:
        found = binary or find_opa_binary()
        if found is None:
            raise ConfigurationError("no opa binary: install OPA or set GERBANG_OPA_BINARY")
        self.binary = found
        self.policies_dir = policies_dir
        self.port = port or _free_port()
        self.watch = watch
        self._private = tempfile.TemporaryDirectory(prefix="gerbang-opa-")
        self.staged = Path(self._private.name) / "bundle"
        self.tls = tls or init_policy_link(Path(self._private.name) / "link")
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        command = [
            str(self.binary),
            "run",
            "--server",
            "--bundle",
            str(self.staged),
            "--addr",
            f"127.0.0.1:{self.port}",
            *self.tls.opa_arguments(),
            "--log-level",
            "error",
            "--skip-version-check",
            "--shutdown-grace-period",
            "1",
        ]
        return [*command, "--watch"] if self.watch else command

    def restage(self) -> str:
        """Stage the bundle again (after it changed); returns its revision."""
        return stage_bundle(self.policies_dir, self.staged)

    def start(self, timeout: float = 15.0) -> None:
        """Start OPA and wait until it reports healthy; raise `TransportError` if it does not."""
        if not self.staged.is_dir():
            self.restage()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self._process = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        context = self.tls.client_context()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise TransportError(
                    f"opa exited with {self._process.returncode}: {self._output()}"
                )
            try:
                with urllib.request.urlopen(  # noqa: S310 (a fixed https URL)
                    f"{self.url}/health?bundles", timeout=1, context=context
                ) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise TransportError(f"opa did not become healthy within {timeout:g} s")

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace").strip()[-2000:]

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop OPA and remove the staged bundle and any link this process created."""
        self.stop()
        self._private.cleanup()

    def __enter__(self) -> OpaServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
