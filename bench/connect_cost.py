"""What one SSH connection costs the client, side by side: ``python3 bench/connect_cost.py``

Starts a rig of one web host (a network namespace with its own sshd; needs root) and, in
this one process, opens ``--rounds`` connections to it one after another (after 3 warm-ups)
in each of these ways, printing client CPU (``time.process_time()``, every thread of the
process) and wall time per connection:

* essay's ``open_connection`` (Fabric ``Connection`` over the shared ssh_config, paramiko
  ``SSHClient``, known_hosts checked) and close; the same with an exec of ``true``;
* a bare paramiko ``Transport``: key exchange, host key, public-key auth with the same
  ed25519 key (loaded each time / loaded once);
* loading the key alone; a Fabric ``Config`` alone.

``--tag``/``--subnet`` for the rig (default from ESSAY_RIG_TAG/SUBNET + "c", the /24 after
the next). It never fails on a number. Recorded in docs/scale.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from rig import Rig  # noqa: E402


def per_connection(label, fn, rounds):
    for _ in range(3):
        fn()
    t0, w0 = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        fn()
    cpu, wall = (time.process_time() - t0) / rounds, (time.perf_counter() - w0) / rounds
    print(f"| {label} | {cpu * 1000:.2f} | {wall * 1000:.1f} |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40)
    tag = os.environ.get("ESSAY_RIG_TAG", "eb")
    a, b, c = os.environ.get("ESSAY_RIG_SUBNET", "10.205.0").split(".")
    ap.add_argument("--tag", default=f"{tag}c")
    ap.add_argument("--subnet", default=f"{a}.{b}.{int(c) + 3}")
    args = ap.parse_args(argv)
    with Rig(n_web=1, n_lb=1, tag=args.tag, subnet=args.subnet) as rig:
        os.environ["HOME"] = rig.home
        import paramiko

        from essay.remote import connect

        cfg, lock = connect.shared_ssh_config(), threading.Lock()
        address, user = rig.address("web1"), rig.user("web1")
        key = paramiko.Ed25519Key.from_private_key_file(rig.key)

        def essay_open():
            connect.open_connection("web1", cfg, 10, False, lock).close()

        def essay_exec():
            conn = connect.open_connection("web1", cfg, 10, False, lock)
            chan = conn.client.get_transport().open_session()
            chan.exec_command("true")
            chan.recv_exit_status()
            chan.close()
            conn.close()

        def bare(preloaded):
            def run():
                t = paramiko.Transport((address, 22))
                t.connect()
                t.auth_publickey(user, key if preloaded else
                                 paramiko.Ed25519Key.from_private_key_file(rig.key))
                t.close()
            return run

        print("| per connection | client CPU (ms) | wall (ms) |\n|---|---|---|")
        per_connection("essay `open_connection` + close", essay_open, args.rounds)
        per_connection("essay `open_connection` + exec `true`", essay_exec, args.rounds)
        per_connection("bare paramiko `Transport`, key loaded each time", bare(False),
                       args.rounds)
        per_connection("bare paramiko `Transport`, key loaded once", bare(True), args.rounds)
        per_connection("loading the ed25519 key alone",
                       lambda: paramiko.Ed25519Key.from_private_key_file(rig.key), args.rounds)
        per_connection("a Fabric `Config` alone", lambda: connect._config(cfg), args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
