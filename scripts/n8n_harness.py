"""A real n8n with the shipped workflows, on loopback: a throwaway PostgreSQL (Supabase's stand-in,
loaded with n8n/supabase/schema.sql), the fake chat model, and n8n 1.123 (installed once by
scripts/n8n_install.sh into ~/.cache/kommo-n8n). Used by `make test-n8n` (tests/n8n/), and by hand:

    python scripts/n8n_harness.py --service-url http://127.0.0.1:3000    # then, in another shell,
    N8N_BASE_URL=http://127.0.0.1:5679 make run                          # the service against it

Everything runs as child processes in one temporary folder and stops with Ctrl-C (or `stop()`).
PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user (runuser).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from scripts.n8n_credentials import credentials  # noqa: E402
from scripts.n8n_fake_model import FakeChatModel  # noqa: E402

N8N_VERSION = "1.123.81"
WORKFLOWS = ROOT / "n8n" / "workflows"
SCHEMA = ROOT / "n8n" / "supabase" / "schema.sql"
INSTALL_SCRIPT = ROOT / "scripts" / "n8n_install.sh"
LOCAL_DB_PASSWORD = "kommo-local-postgres"  # noqa: S105 - a throwaway cluster on loopback


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Any, seconds: float, what: str, interval: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy; AssertionError naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            result = check()
        except (OSError, ValueError):
            result = None
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def exchange(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, Any, bytes]:
    """One HTTP request: the status, the answer's headers and its raw body (an HTTP error is an answer too)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def parsed(raw: bytes) -> Any:
    """A body as JSON, else as text."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One HTTP request: the status and the parsed body."""
    status, _, raw = exchange(method, url, body, headers)
    return status, parsed(raw)


def serving(n8n_url: str, paths: tuple[str, ...], seconds: float = 120) -> None:
    """Wait until n8n serves each webhook path (the harness waits for the health workflow only: the others may
    activate a moment later): an unsigned request is refused by the workflow, not 404 nor 503 (starting up)."""
    for path in paths:
        url = f"{n8n_url}/webhook/{path}"
        wait_until(lambda url=url: http("POST", url, b"{}")[0] not in (404, 503), seconds, f"n8n to serve {path}")


def start_local_run(api: int, kommo: int, n8n_url: str, log: Path, api_token: str) -> subprocess.Popen[bytes]:
    """`python -m local.run` (moto, the HTTP API, the queue pollers, the Kommo sandbox) with N8N_BASE_URL at the
    real n8n, so no stand-in starts; then the salespeople synced into its cache (as its schedule does)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "KOMMO_", "N8N_"))}
    environment |= {"PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}", "N8N_BASE_URL": n8n_url}
    command = [sys.executable, "-m", "local.run", "--port", str(api), "--kommo-port", str(kommo)]
    command += ["--aws-port", str(free_port())]
    with log.open("ab") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
    url = f"http://127.0.0.1:{api}"
    try:
        wait_until(lambda: http("GET", f"{url}/health")[1].get("status") == "ok", 90, "the service's local run")
        status, synced = http("POST", f"{url}/vendors/sync", b"", {"authorization": f"Bearer {api_token}"})
        if status >= 300:
            raise RuntimeError(f"the salesperson sync answered {status}: {synced}")
    except BaseException:
        stop_process(process)
        raise RuntimeError(f"the service's local run did not start:\n{log.read_text()[-3000:]}") from None
    return process


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill after 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# ---------------------------------------------------------------------- PostgreSQL
def postgres_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian's layout, or initdb on PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Postgres:
    """A throwaway cluster: its own folder, a free port, password login over TCP, trust on its socket."""

    bin_dir: Path
    base: Path = Path()
    port: int = 0
    database: str = "kommo"
    password: str = LOCAL_DB_PASSWORD
    _as_postgres: list[str] = field(default_factory=list)

    def start(self) -> Postgres:
        # its own folder under the system temp dir: the postgres user cannot enter a private pytest folder
        self.base = Path(tempfile.mkdtemp(prefix="kommo-postgres-"))
        self.port = self.port or free_port()
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.base, user.pw_uid, user.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        password_file = self.base / "password"
        password_file.write_text(self.password)
        password_file.chmod(0o644)
        self._run(
            str(self.bin_dir / "initdb"),
            f"--pgdata={self.data}",
            "--username=postgres",
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        password_file.unlink()
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        self.psql("CREATE DATABASE " + self.database, database="postgres")
        return self

    def stop(self) -> None:
        if self.base == Path():
            return
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "postgres.log"

    @property
    def url(self) -> str:
        """The connection string n8n's credential gets (TCP, password, no SSL on loopback)."""
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{self.database}?sslmode=disable"

    def psql(self, sql: str, *, database: str | None = None) -> str:
        return self._psql("-c", sql, database=database)

    def load(self, path: Path, *, database: str | None = None) -> str:
        return self._psql("-f", str(path), database=database)

    def rows(self, sql: str, *, database: str | None = None) -> list[dict[str, Any]]:
        """The rows of a query, as JSON objects."""
        query = f"SELECT coalesce(json_agg(row_to_json(q)), '[]'::json) FROM ({sql}) q"  # noqa: S608
        text = self.psql(query, database=database)
        return list(json.loads(text))

    def _psql(self, *arguments: str, database: str | None = None) -> str:
        completed = subprocess.run(  # noqa: S603 - PostgreSQL's own client
            [
                str(self.bin_dir / "psql"),
                "-h",
                str(self.base),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database or self.database,
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-q",
                "-At",
                *arguments,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if completed.returncode:
            raise RuntimeError(f"psql failed: {completed.stderr.strip()}")
        return completed.stdout.strip()

    def _run(self, *command: str, check: bool = True) -> None:
        completed = subprocess.run(  # noqa: S603 - PostgreSQL's own tools
            [*self._as_postgres, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if check and completed.returncode:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(command[0]).name} failed: {completed.stderr.strip()}\n{log}")


# ---------------------------------------------------------------------- n8n
def install_n8n(version: str = N8N_VERSION) -> Path:
    """Install n8n once (scripts/n8n_install.sh, cached outside the repository); returns its folder."""
    completed = subprocess.run(  # noqa: S603 - our own script
        [shutil.which("bash") or "/bin/bash", str(INSTALL_SCRIPT)],
        env={**os.environ, "N8N_VERSION": version},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if completed.returncode:
        raise RuntimeError(f"installing n8n@{version} failed:\n{completed.stderr[-3000:]}")
    return Path(completed.stdout.strip().splitlines()[-1])


@dataclass
class N8n:
    """One n8n instance: its own user folder (SQLite database, encryption key) and free ports (its own and its
    task runners' broker's, so that two instances can run at once)."""

    home: Path
    folder: Path
    port: int = 0
    broker_port: int = 0
    settings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.broker_port = self.broker_port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "n8n.log"

    def environment(self) -> dict[str, str]:
        """n8n's settings: n8n/README.md's "Running n8n on a machine like this one", plus what the shipped
        workflows need."""
        inherited = {key: value for key, value in os.environ.items() if not key.startswith(("N8N_", "DB_"))}
        return {
            **inherited,
            "N8N_USER_FOLDER": str(self.folder),
            "N8N_PORT": str(self.port),
            "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_HOST": "127.0.0.1",
            "N8N_PROTOCOL": "http",
            "WEBHOOK_URL": f"{self.url}/",
            "N8N_EXPRESSION_ENGINE": "legacy",  # isolated-vm cannot be built on Node 20
            # the Code nodes run in a task runner (a child process, internal mode), as n8n 2.x always runs them
            "N8N_RUNNERS_ENABLED": "true",
            "N8N_RUNNERS_BROKER_PORT": str(self.broker_port),
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
            "N8N_SECURE_COOKIE": "false",
            "N8N_ENCRYPTION_KEY": self.settings.get("N8N_ENCRYPTION_KEY", "kommo-local-n8n-encryption-key"),
            # the workflows: the Code nodes use crypto and read their settings from the environment
            "NODE_FUNCTION_ALLOW_BUILTIN": "crypto",
            "N8N_BLOCK_ENV_ACCESS_IN_NODE": "false",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            **self.settings,
        }

    def cli(self, *arguments: str) -> str:
        completed = subprocess.run(  # noqa: S603 - n8n's own command line
            [node_binary(), str(self.binary), *arguments],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if completed.returncode:
            raise RuntimeError(f"n8n {arguments[0]} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
        return completed.stdout

    @property
    def binary(self) -> Path:
        return self.home / "node_modules" / "n8n" / "bin" / "n8n"

    def load(self, credentials_json: list[dict[str, Any]], workflows: Path = WORKFLOWS) -> None:
        """Import the credentials and the workflows with n8n's CLI, and activate every workflow."""
        self.folder.mkdir(parents=True, exist_ok=True)
        secrets_file = self.folder / "credentials.json"
        secrets_file.write_text(json.dumps(credentials_json))
        try:
            self.cli("import:credentials", f"--input={secrets_file}")
        finally:
            secrets_file.unlink()
        self.cli("import:workflow", "--separate", f"--input={workflows}")
        self.cli("update:workflow", "--all", "--active=true")

    def start(self, *, ready_path: str = "/webhook/kommo-health", seconds: float = 120) -> N8n:
        """Start `n8n start` (node itself, so that stopping it stops n8n) and wait until the active
        workflows answer (a webhook that is not registered yet answers 404)."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - n8n's own command line
                [node_binary(), str(self.binary), "start"],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def registered() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"n8n exited with {self.process.returncode}:\n{self.log_tail()}")
            request = urllib.request.Request(f"{self.url}{ready_path}", data=b"{}", method="POST")  # noqa: S310
            try:
                urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - loopback
            except urllib.error.HTTPError as error:
                return error.code not in (404, 503)  # 503: "n8n is starting up", the workflows not all active
            return True

        wait_until(registered, seconds, f"n8n to serve {ready_path}\n{self.log_tail()}")
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, characters: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-characters:] if self.log.exists() else ""


def node_binary() -> str:
    found = shutil.which("node")
    if not found:
        raise RuntimeError("node (Node.js 20) is not on PATH")
    return found


# ---------------------------------------------------------------------- everything together
@dataclass
class RealN8n:
    """PostgreSQL + fake chat model + n8n with the shipped workflows, started in order and stopped
    in reverse order (also when a step fails)."""

    signing_secret: str
    service_url: str
    api_token: str
    base: Path
    timings: dict[str, float] = field(default_factory=dict)
    postgres: Postgres | None = None
    model: FakeChatModel | None = None
    n8n: N8n | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def start(self) -> RealN8n:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        bin_dir = postgres_binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        with self._timed("install n8n"):
            home = install_n8n()
        with self._timed("start postgres + schema"):
            self.postgres = Postgres(bin_dir)
            self._stack.callback(self.postgres.stop)
            self.postgres.start()
            self.postgres.load(SCHEMA)
            self.postgres.load(SCHEMA)  # re-runnable
        self.model = (self.model or FakeChatModel()).start()  # a model given beforehand (make eval's) is used
        self._stack.callback(self.model.stop)
        self.n8n = N8n(
            home,
            self.base / "n8n",
            settings={
                "N8N_SIGNING_SECRET": self.signing_secret,
                "KOMMO_ASSISTANT_API_URL": self.service_url,
                "N8N_ENCRYPTION_KEY": secrets.token_hex(16),
            },
        )
        with self._timed("import credentials + workflows"):
            self.n8n.load(
                credentials(
                    openai_url=self.model.url,
                    openai_key="fake-key",
                    postgres_url=self.postgres.url,
                    api_token=self.api_token,
                )
            )
        self._stack.callback(self.n8n.stop)
        with self._timed("start n8n"):
            self.n8n.start()

    def stop(self) -> None:
        self._stack.close()

    @contextlib.contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service-url", default="http://127.0.0.1:3000", help="the service's HTTP API")
    parser.add_argument("--signing-secret", default="local-n8n-signing-secret-0123456789")
    parser.add_argument("--api-token", default="local-n8n-api-token-0123456789", help="the service's N8N_API_TOKEN")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kommo-n8n-") as base:
        real = RealN8n(args.signing_secret, args.service_url, args.api_token, Path(base)).start()
        assert real.n8n is not None and real.model is not None and real.postgres is not None
        print(f"n8n on {real.n8n.url} (N8N_BASE_URL), fake model on {real.model.url}, PostgreSQL: {real.postgres.url}")
        print(f"startup: {real.timings}  (Ctrl-C stops everything)", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        real.stop()


if __name__ == "__main__":
    main()
