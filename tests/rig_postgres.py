"""A throwaway PostgreSQL cluster for rig tests: Debian's ``postgresql`` binaries,
``initdb`` into a temporary directory as the ``postgres`` system user, listening on the
rig's bridge address (the web hosts reach it there) on a free port; stopped and removed
after. ``with postgres(rig.index_address) as pg:`` gives ``pg.database(name)``: the URL of
a role and a database made for the test. (The directory is under /tmp, not pytest's
tmp_path: that is private to root, and the cluster runs as ``postgres``.)"""
import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import tempfile

from rig_project import free_port, wait_port


def bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql; "
                           "scripts/system-deps.sh does it)")
    return os.path.dirname(found[-1])


class Postgres:
    def __init__(self, address, port, root):
        self.address, self.port, self.root = address, port, root

    def psql(self, sql, db="postgres"):
        return subprocess.run(["runuser", "-u", "postgres", "--", f"{bindir()}/psql", "-h",
                               self.root, "-p", str(self.port), "-d", db, "-v",
                               "ON_ERROR_STOP=1", "-qAtc", sql], check=True,
                              capture_output=True, text=True).stdout

    def database(self, name) -> str:
        """A role and a database ``name`` owned by it; returns its URL (with password)."""
        password = secrets.token_hex(12)
        self.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        self.psql(f"CREATE DATABASE {name} OWNER {name}")
        return f"postgres://{name}:{password}@{self.address}:{self.port}/{name}"


@contextlib.contextmanager
def postgres(address):
    b = bindir()
    root = tempfile.mkdtemp(prefix="essay-pg-")
    data = os.path.join(root, "data")
    os.chmod(root, 0o755)
    shutil.chown(root, "postgres", "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_pg + [f"{b}/initdb", "-D", data, "-A", "scram-sha-256", "--auth-local",
                            "trust", "-U", "postgres", "--no-sync"], check=True,
                   capture_output=True)
    port = free_port()
    with open(os.path.join(data, "postgresql.conf"), "a") as f:
        f.write(f"listen_addresses = '{address}'\nport = {port}\n"
                f"unix_socket_directories = '{root}'\nfsync = off\n")
    with open(os.path.join(data, "pg_hba.conf"), "a") as f:
        f.write(f"host all all {address.rsplit('.', 1)[0]}.0/24 scram-sha-256\n")
    subprocess.run(as_pg + [f"{b}/pg_ctl", "-D", data, "-l", os.path.join(root, "log"),
                            "-w", "start"], check=True, capture_output=True)
    try:
        wait_port(address, port)
        yield Postgres(address, port, root)
    finally:
        subprocess.run(as_pg + [f"{b}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
