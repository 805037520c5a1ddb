"""``es secrets`` as data: the scripts that change and read ``{prefix}/secrets.env``.

A change is two round trips per web host, so that it lands on every host or on none:
``stage`` writes the new file next to the old one (0600, from the old file minus the
changed names plus the new lines), ``commit`` renames it over the old one (atomic), and
``abort`` removes a staged file when another host failed to stage.

A value travels base64-encoded inside the script, which goes on the stdin of ``bash
-s``: it is only ever an argument of shell builtins (``printf``), never of a process, so
it is in no argv on any machine. ``redact`` builds the same script with the values
replaced, for ``--dry-run``.
"""
from __future__ import annotations

from essay import health
from essay.remote.script import Script, Step
from essay.remote.shell import q, qpath
from essay.secrets.host import encode, secrets_path

REDACTED = "<redacted>"


def staged_path(cfg, token: str) -> str:
    return f"{secrets_path(cfg)}.essay-stage-{token}"


def _copy_except(names) -> list[str]:
    """Shell lines copying the old file into "$new" without the lines of ``names``
    (checked names: safe as a case pattern)."""
    skip = "|".join(names)
    body = (f'    case "${{line%%=*}}" in {skip}) essay_data removed "${{line%%=*}}"; '
            'continue ;; esac\n' if skip else "")
    return ['if [ -f "$f" ]; then',
            '  while IFS= read -r line || [ -n "$line" ]; do',
            body + '    printf \'%s\\n\' "$line" >> "$new"',
            '  done < "$f"', "fi"]


def stage_script(cfg, token: str, values: dict[str, str], unset=(), redact=False) -> Script:
    """Write the new secrets file beside the old one, 0600 from its first byte."""
    lines = [f"mkdir -p {qpath(cfg.prefix)}", "umask 077", f"f={qpath(secrets_path(cfg))}",
             f"new={qpath(staged_path(cfg, token))}", ': > "$new"', 'chmod 600 "$new"']
    lines += _copy_except([*values, *unset])
    for name, value in values.items():
        line = f"{name}={REDACTED if redact else encode(value)}"
        lines.append(f"printf '%s\\n' {q(line)} >> \"$new\"")
    lines.append('essay_data staged "$new"')
    return Script(title="secrets: stage", steps=(Step("stage", "\n".join(lines)),),
                  progress=False)


def commit_script(cfg, token: str) -> Script:
    return Script(title="secrets: commit", steps=(Step("commit", (
        f"mv -f -- {qpath(staged_path(cfg, token))} {qpath(secrets_path(cfg))}")),),
        progress=False)


def abort_script(cfg, token: str) -> Script:
    return Script(title="secrets: abort", steps=(Step("abort", (
        f"rm -f -- {qpath(staged_path(cfg, token))}")),), progress=False)


def list_script(cfg, nonce: str) -> Script:
    """Each secret's name and a salted hash of its value, computed on the host (the
    salt, ``nonce``, is new for every run: the hashes say "same or not", nothing more);
    and the file's mode."""
    return Script(title="secrets: list", steps=(Step("list", "\n".join([
        f"f={qpath(secrets_path(cfg))}",
        '[ -f "$f" ] || exit 0',
        'essay_data mode "$(stat -c %a "$f")"',
        'while IFS= read -r line || [ -n "$line" ]; do',
        '  [ -n "$line" ] || continue',
        f'  h=$(printf %s%s {q(nonce)} "${{line#*=}}" | sha256sum | cut -c1-32)',
        '  essay_data secret "${line%%=*} $h"',
        'done < "$f"'])),), progress=False)


def restart_step(cfg, color: str) -> Step:
    """Restart a colour's programs if it runs (they re-read the secrets), then wait for
    every process to answer its health check."""
    from essay.supervisor import action_step

    d = qpath(cfg.color_dir(color))
    restart = action_step(cfg, "restart", color, None)
    return Step(f"restart {color}", "\n".join([
        restart.run,
        f"if [ -f {d}/etc/supervisord.conf ] && [ -x {d}/bin/python ]; then",
        f"  {health.local(cfg, f'{d}/bin/python', color, cfg.health_timeout)}",
        f"  essay_data restarted {q(color)}",
        "fi"]))
