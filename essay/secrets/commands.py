"""``es secrets`` as data: the scripts that change and read ``{prefix}/secrets.env``.

A change is three round trips per web host, so that it lands on every host or on none:
``stage`` writes the new file next to the old one (0600, from the old file minus the
changed names plus the new lines); ``commit`` keeps the old file as a backup (a hard
link) and renames the new one over it (atomic); ``finish`` drops the backups once every
host committed. ``abort`` removes a staged file (and a backup) when a host failed;
``restore`` puts the backup back on the hosts that had committed when another did not.

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


def backup_path(cfg, token: str) -> str:
    return f"{secrets_path(cfg)}.essay-prev-{token}"


def _script(cfg, token: str, name: str, *lines: str) -> Script:
    paths = [f"f={qpath(secrets_path(cfg))}", f"new={qpath(staged_path(cfg, token))}",
             f"old={qpath(backup_path(cfg, token))}"]
    return Script(title=f"secrets: {name}", steps=(Step(name, "\n".join([*paths, *lines])),),
                  progress=False)


def commit_script(cfg, token: str) -> Script:
    """The staged file over the old one; the old one kept (a hard link) until ``finish``.
    ``mv -T``: a directory in the file's place fails the commit, nothing moves into it."""
    return _script(cfg, token, "commit", 'if [ -f "$f" ]; then ln -f -- "$f" "$old"; fi',
                   'mv -fT -- "$new" "$f"')


def finish_script(cfg, token: str) -> Script:
    return _script(cfg, token, "finish", 'rm -f -- "$old"')


def restore_script(cfg, token: str) -> Script:
    """Put the old file back on a host that committed (none before: no file)."""
    return _script(cfg, token, "restore",
                   'if [ -f "$old" ]; then mv -fT -- "$old" "$f"; else rm -f -- "$f"; fi')


def abort_script(cfg, token: str) -> Script:
    return _script(cfg, token, "abort", 'rm -f -- "$new" "$old"')


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
