"""The Django template on the rig with a real PostgreSQL: created, synced, built,
deployed; migrated once by the release command (on exactly one host); a page that reads
the database and the admin's CSS served through the lb; a second version deployed,
flipped to, rolled back from and flipped to again under load (wrk on the page that reads
the database: zero failed requests); a failing release changes neither colour.

A second project (``shop``) beside the session's ``demo`` on the same rig: its own
ports (8900/8910), its own nginx site on the lb (port 8081), its own index. PostgreSQL is
a throwaway cluster on the rig's bridge address (tests/rig_postgres.py)."""
import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest

from rig_postgres import postgres
from rig_project import Project, free_port, serving
from test_flip import parse_wrk

pytestmark = [pytest.mark.rig, pytest.mark.slow]
WEB = ["web1", "web2"]
LISTEN = 8081


def es(project, *args, ok=True):
    p = project.es(*args, check=ok is True)
    assert ok is not False or p.returncode != 0, p.stdout + p.stderr
    return p


def shop_toml(rig, project, release):
    text = rig.essay_toml("shop", index_url=project.index_url,
                          upload_url=f"http://{rig.index_address}:{project.port}/")
    text = text.replace('health_path = "/health"\n',
                        'health_path = "/health"\nhealth_host = "shop.test"\n'
                        f'release = "{release}"\n')
    text = text.replace("a = 8800\nb = 8810", "a = 8900\nb = 8910")
    text = text.replace("demo.conf", "shop.conf").replace("listen = 8080", f"listen = {LISTEN}")
    return text


@pytest.fixture(scope="module")
def shop(rig, tmp_path_factory):
    from essay.create import create

    work = tmp_path_factory.mktemp("shop")
    with postgres(rig.index_address) as pg:
        url = pg.database("shop")
        path = create("shop", template="django", output_dir=str(work), no_input=True)
        project = Project(rig, path, free_port())
        (path / "essay.toml").write_text(shop_toml(
            rig, project, "python -m shop migrate --noinput && echo $ESSAY_HOST >> ~/shop-migrated"))
        project.git("commit", "-qam", "essay.toml for the rig")
        project.database_url, project.pg = url, pg
        try:
            with serving(project, work, prefix="~/shop"):
                yield project
        finally:
            for h in WEB:
                rig.sh(h, "rm -f ~/shop-migrated", check=False)


SECRET_KEY = "s3cr3t-" + os.urandom(12).hex()
#: what `es run` runs on a host: the sha256 of the key Django's settings hold (not the key)
KEY_DIGEST = ("import hashlib; from django.conf import settings; "
              "print(hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest())")


def secrets(project):
    """DATABASE_URL and SECRET_KEY for the hosts, through `es secrets` (values on stdin)."""
    for key, value in (("DATABASE_URL", project.database_url), ("SECRET_KEY", SECRET_KEY)):
        p = subprocess.run(project.es_argv("secrets", "set", key), input=value + "\n",
                           cwd=project.path, env=project.env(), text=True,
                           capture_output=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr


def through_lb(rig, path):
    status, body = rig.http_get(rig.lb, LISTEN, path)
    return status, body


def test_django_with_postgresql_migrates_once_serves_the_database_and_static(rig, shop):
    secrets(shop)
    v1 = shop.build()
    p = es(shop, "deploy", v1, "--color", "a")
    # the release command ran once, on the first web host
    ran = {h: rig.sh(h, "cat ~/shop-migrated 2>/dev/null || true").stdout.split() for h in WEB}
    assert ran == {"web1": ["web1"], "web2": []}, (ran, p.stderr)
    assert "Applying auth.0001_initial" in p.stdout + p.stderr
    tables = shop.pg.psql("select count(*) from django_migrations", db="shop").strip()
    assert int(tables) > 10
    es(shop, "flip", "a")
    # the deployed app's settings hold the key set with `es secrets` (no development key)
    p = es(shop, "run", "--", "python", "-m", "shop", "shell", "-c", KEY_DIGEST)
    assert p.stdout.strip().splitlines()[-1] == \
        hashlib.sha256(SECRET_KEY.encode()).hexdigest(), p.stdout + p.stderr
    assert SECRET_KEY not in p.stdout + p.stderr
    status, body = through_lb(rig, "/db")
    assert status == 200, body
    assert json.loads(body)["migrations"] == int(tables)
    # the admin's CSS, by its hashed name, through nginx
    status, page = through_lb(rig, "/admin/login/")
    assert status == 200, page
    css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
    assert css, page[:2000]
    status, text = through_lb(rig, css.group(1))
    assert status == 200 and "body" in text

    # a second version into b (migrations: still once per deploy), flipped to, rolled back
    # from and flipped to again -- under load on the page that reads the database
    v2 = shop.build()
    wrk = subprocess.Popen(["wrk", "-t2", "-c8", "-d300s", f"http://{rig.address(rig.lb)}:"
                            f"{LISTEN}/db"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    try:
        time.sleep(2)
        es(shop, "deploy", v2, "--color", "b")
        for args in (("flip", "b"), ("rollback",), ("flip", "b")):
            es(shop, *args)
            time.sleep(1)
    finally:
        wrk.send_signal(signal.SIGINT)
        text, _ = wrk.communicate(timeout=30)
    result = parse_wrk(text)
    assert result["requests"] > 100 and result["non2xx"] == 0 and \
        result["socket_errors"] == 0, text
    ran = {h: rig.sh(h, "cat ~/shop-migrated 2>/dev/null || true").stdout.split() for h in WEB}
    assert ran == {"web1": ["web1", "web1"], "web2": []}
    assert json.loads(through_lb(rig, "/db")[1])["version"] == v2
    # the page from b and the CSS from a (the other colour) both resolve: shared static
    status, _ = through_lb(rig, css.group(1))
    assert status == 200


def test_a_failing_release_on_django_leaves_both_colours_as_they_were(rig, shop):
    text = (shop.path / "essay.toml").read_text()
    (shop.path / "essay.toml").write_text(text.replace(
        'migrate --noinput', 'migrate nosuchapp --noinput'))
    try:
        before = {c: json.loads(rig.http_get("web1", port, "/db")[1])["version"]
                  for c, port in (("a", 8900), ("b", 8910))}
        v3 = shop.build()
        p = es(shop, "deploy", v3, ok=False)
        assert "the release command failed on web1" in p.stdout + p.stderr
        after = {c: json.loads(rig.http_get("web1", port, "/db")[1])["version"]
                 for c, port in (("a", 8900), ("b", 8910))}
        assert after == before
    finally:
        (shop.path / "essay.toml").write_text(text)
