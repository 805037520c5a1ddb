"""Push webhooks from GitHub, GitLab and Gitea: verify, then read (pure functions).

Verified before anything else, in constant time (:func:`hmac.compare_digest`):

* GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``;
* GitLab: ``X-Gitlab-Token: <the secret>``;
* Gitea: ``X-Gitea-Signature: <hex HMAC-SHA256 of the raw body>``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

PROVIDERS = ("github", "gitlab", "gitea")


@dataclass(frozen=True)
class Push:
    delivery: str      # "github:<id>": a repeated one is a replay
    event: str         # "push" for a push
    ref: str           # "refs/heads/main"
    after: str         # the pushed commit

    @property
    def branch(self) -> str:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else ""


def _hmac(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def sign(provider: str, secret: bytes, body: bytes) -> dict:
    """The headers a provider would send for ``body`` (for tests and for curl examples)."""
    if provider == "github":
        return {"X-Hub-Signature-256": "sha256=" + _hmac(secret, body)}
    if provider == "gitlab":
        return {"X-Gitlab-Token": secret.decode()}
    return {"X-Gitea-Signature": _hmac(secret, body)}


def verify(provider: str, secret: bytes, headers, body: bytes) -> int:
    """0 if the request is signed with ``secret``; else 401 (no signature) or 403 (wrong)."""
    if provider == "github":
        given = headers.get("X-Hub-Signature-256", "")
        expected = "sha256=" + _hmac(secret, body)
    elif provider == "gitlab":
        given, expected = headers.get("X-Gitlab-Token", ""), secret.decode()
    else:
        given = headers.get("X-Gitea-Signature", "")
        expected = _hmac(secret, body)
    if not given:
        return 401
    return 0 if hmac.compare_digest(given.encode(), expected.encode()) else 403


def parse(provider: str, headers, body: bytes) -> Push:
    """The push a (verified) delivery describes; ValueError if the body is not one."""
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    if provider == "github":
        delivery, event = headers.get("X-GitHub-Delivery", ""), headers.get("X-GitHub-Event", "")
    elif provider == "gitlab":
        delivery = headers.get("X-Gitlab-Event-UUID", "") or headers.get("Idempotency-Key", "")
        event = "push" if headers.get("X-Gitlab-Event", "") == "Push Hook" else \
            headers.get("X-Gitlab-Event", "")
    else:
        delivery, event = headers.get("X-Gitea-Delivery", ""), headers.get("X-Gitea-Event", "")
    return Push(delivery=f"{provider}:{delivery}" if delivery else "", event=event,
                ref=str(data.get("ref", "")), after=str(data.get("after", "")))
