"""A throwaway PostgreSQL server for the tests and benchmarks: PostgreSQL's own binaries, a temporary data
directory, a free loopback port; stopped and deleted at the end.

Library: :func:`throwaway_postgres` (a context manager yielding a :class:`PostgresServer`, whose ``dsn`` is
``postgresql://arwip:<password>@127.0.0.1:<port>/arwip``; :meth:`PostgresServer.create_database` makes more
databases). ``bench/`` uses it as ``from tests.pg_server import throwaway_postgres`` (with the repository
root on ``sys.path``).

pytest (this module is a plugin of ``tests/conftest.py``): the session fixture ``postgres`` (the server) and
``postgres_dsn`` (a fresh database per test, its DSN). When no server can be started, a test that uses them
*fails* under CI (``CI=true`` in the environment, as ``.ci/run`` sets) and is *skipped* elsewhere, with the
reason (see :func:`unavailable`).

Binaries: ``ARWIP_PG_BINDIR`` when set, else Debian's newest ``/usr/lib/postgresql/<version>/bin``, else the
folder of ``pg_ctl`` on ``PATH``. ``initdb`` refuses to run as root, so as root the server runs as the
``postgres`` user (``runuser -u postgres --``), which owns the temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psycopg2
import pytest

BINDIR_ENV = "ARWIP_PG_BINDIR"
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
OS_USER = "postgres"  # who runs the server when we are root
SUPERUSER = "postgres"  # the cluster's superuser, reached only over the Unix socket (trust)
START_TIMEOUT_S = 60
# a throwaway cluster needs no durability: its data is deleted at the end
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why (binaries missing, initdb failed…)."""


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server: ``host`` 127.0.0.1, ``port``, a login ``user`` with ``password`` (allowed to
    create databases), its database ``database``, and ``data_dir`` (the cluster, deleted at the end)."""

    port: int
    user: str
    password: str
    database: str
    data_dir: Path
    host: str = "127.0.0.1"

    @property
    def dsn(self) -> str:
        """``postgresql://user:password@127.0.0.1:port/database``: libpq's, psycopg2's, ADBC's and dlt's form."""
        return self.dsn_of(self.database)

    def dsn_of(self, database: str) -> str:
        """The DSN of another database of this server, as the same user."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (a lowercase identifier) owned by the user; returns its DSN.

        Raises:
            ValueError: ``name`` is not a lowercase identifier.
            psycopg2.Error: it exists already, or the server refused.
        """
        if not _NAME.match(name):
            raise ValueError(f"database name {name!r}: use a lowercase identifier")
        con = psycopg2.connect(self.dsn)
        try:
            con.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with con.cursor() as cur:
                cur.execute(f'create database "{name}"')
        finally:
            con.close()
        return self.dsn_of(name)


def find_bindir() -> Path:
    """The folder of ``initdb`` and ``pg_ctl`` (see the module docstring for the search order).

    Raises:
        PostgresUnavailable: none found, or ``ARWIP_PG_BINDIR`` has no ``initdb``.
    """
    configured = os.environ.get(BINDIR_ENV)
    if configured:
        if not (Path(configured) / "initdb").is_file():
            raise PostgresUnavailable(f"{BINDIR_ENV}={configured} has no initdb")
        return Path(configured)
    debian = sorted(Path("/").glob(DEBIAN_BINDIRS.lstrip("/")), key=_version_key)
    found = [d for d in debian if (d / "initdb").is_file()]
    if found:
        return found[-1]
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl and (Path(pg_ctl).resolve().parent / "initdb").is_file():
        return Path(pg_ctl).resolve().parent
    raise PostgresUnavailable(
        f"no PostgreSQL binaries (initdb, pg_ctl) in {DEBIAN_BINDIRS} or on PATH; install them "
        f"(Debian: apt-get install postgresql) or set {BINDIR_ENV}"
    )


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Cluster:
    """initdb / pg_ctl on one data directory, as the ``postgres`` OS user when we are root."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(OS_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root needs the OS user {OS_USER!r} (initdb refuses root)"
                ) from None
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresUnavailable("running as root needs runuser (util-linux) to start PostgreSQL")
            os.chown(root, account.pw_uid, account.pw_gid)
            self.prefix = [runuser, "-u", OS_USER, "--"]

    def run(self, tool: str, *args: str) -> None:
        command = [*self.prefix, str(self.bindir / tool), *args]
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.is_file() else ""
            detail = (done.stderr or done.stdout).strip()[-2000:]
            raise PostgresUnavailable(f"{tool} {args[0]} failed ({done.returncode}): {detail}\n{log}".strip())

    def initdb(self) -> None:
        self.run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8", "--locale=C",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
        )  # fmt: skip

    def start(self, port: int, settings: dict[str, str]) -> None:
        options = {"listen_addresses": "127.0.0.1", "port": str(port), "unix_socket_directories": str(self.root)}
        options |= settings
        self.run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_TIMEOUT_S),
            "-o", " ".join(f"-c {key}={value}" for key, value in options.items()),
        )  # fmt: skip

    def stop(self) -> None:
        self.run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w")


@contextlib.contextmanager
def throwaway_postgres(
    database: str = "arwip", user: str = "arwip", durable: bool = False, tries: int = 3
) -> Iterator[PostgresServer]:
    """Start a new PostgreSQL cluster on a free loopback port, with login ``user`` (a random password, may
    create databases) owning database ``database``; yield it; then stop it (``pg_ctl stop -m fast``) and
    delete its directory.

    ``durable=False`` (default) turns off fsync, synchronous commit and full-page writes (the data is thrown
    away); ``durable=True`` keeps PostgreSQL's defaults, e.g. to measure load rates. The port is picked free
    and the start retried on another one (``tries``) if something took it meanwhile. Superuser access is only
    over the Unix socket in the temporary directory.

    Raises:
        PostgresUnavailable: no binaries, no ``postgres`` OS user when root, or initdb / start failed (the
            message has the server log's end).
    """
    if not _NAME.match(database) or not _NAME.match(user):
        raise ValueError(f"database {database!r} and user {user!r} must be lowercase identifiers")
    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix="arwip-pg-"))
    started = False
    try:
        cluster = _Cluster(bindir, root)
        cluster.initdb()
        port = 0
        for attempt in range(tries):
            port = _free_port()
            try:
                cluster.start(port, {} if durable else FAST_SETTINGS)
                break
            except PostgresUnavailable:
                if attempt == tries - 1:
                    raise
        started = True
        password = os.urandom(12).hex()
        admin = psycopg2.connect(host=str(root), port=port, user=SUPERUSER, dbname="postgres")
        try:
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(f'create role "{user}" login createdb password %s', [password])
                cur.execute(f'create database "{database}" owner "{user}"')
        finally:
            admin.close()
        yield PostgresServer(port=port, user=user, password=password, database=database, data_dir=cluster.data)
    finally:
        try:
            if started:
                cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def in_ci(environ: dict[str, str] | None = None) -> bool:
    """Whether we run under CI: ``CI`` set to ``true``/``1``/``yes`` (any case), as CI services and ``.ci/run``
    set it."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in ("true", "1", "yes")


def unavailable(reason: str, environ: dict[str, str] | None = None) -> NoReturn:
    """Stop the current test for want of PostgreSQL: a failure under CI (:func:`in_ci`), where the tests must
    exercise Postgres; a skip, with ``reason``, for a developer without PostgreSQL."""
    if in_ci(environ):
        pytest.fail(f"CI=true and no PostgreSQL server could be started: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server could be started: {reason}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's throwaway PostgreSQL server (started on first use, stopped at the end)."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_postgres())
        except PostgresUnavailable as exc:
            unavailable(str(exc))
        yield server


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_dsn(postgres: PostgresServer) -> str:
    """A new, empty database on the session's server for this test; its DSN."""
    return postgres.create_database(f"test_{next(_databases)}")
