"""One-line messages for what can go wrong on a host: a failed step, a connection that
could not be made (by paramiko or by OpenSSH)."""
from __future__ import annotations

from essay.remote import openssh
from essay.remote.script import HostResult


def step_error(res: HostResult, exited: int) -> str:
    step = res.failed_step
    if step is None:
        return f"the remote script exited with status {exited} before its first step"
    if step.rc is None:
        return f"{step.name}: did not finish (exit status {exited})"
    tail = "\n".join(step.output.strip().splitlines()[-15:])
    return f"{step.name} failed (exit {step.rc})" + (f":\n{tail}" if tail else "")


def connect_error(host: str, e: Exception) -> str | None:
    """A one-line message for a connection-level failure, or None if ``e`` is a bug."""
    if isinstance(e, openssh.Failed):
        return openssh.error_message(host, str(e))
    import socket

    import paramiko

    who = host
    if isinstance(e, paramiko.BadHostKeyException):
        return (f"{who}: the host key CHANGED (expected {e.expected_key.get_base64()[:16]}…); "
                "if that is expected, remove the old key from known_hosts")
    if isinstance(e, paramiko.AuthenticationException):
        return f"{who}: SSH authentication failed ({e}); check the user and key for this host"
    if isinstance(e, paramiko.SSHException) and "not found in known_hosts" in str(e):
        return (f"{who}: its host key is not in known_hosts; verify it, then add it "
                "(ssh-keyscan HOST >> ~/.ssh/known_hosts) or set [ssh] accept_new_host_keys "
                "= true in essay.toml")
    if isinstance(e, (paramiko.SSHException, EOFError)):
        return f"{who}: SSH error: {e}"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return f"{who}: timed out connecting; is the host up and the port right?"
    if isinstance(e, OSError):
        return f"{who}: cannot connect: {e.strerror or e}"
    return None
