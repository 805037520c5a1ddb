"""The Django template on the rig with a real PostgreSQL: created, synced, built,
deployed; migrated once by the template's own release command (on exactly one host); a
page that reads the database, the admin's CSS and the site's CSS served through the lb;
an upload written by `es run` in one colour and served at /media/ by both colours from
storage the web hosts share; a second version with a changed stylesheet released with
`es release` (watched after its flip, no rollback), rolled back from and flipped to again
under load (wrk on the page that reads the database: zero failed requests) while both
versions' hashed CSS answer 200 through the lb whichever colour is live; a failing
release changes neither colour.

ALLOWED_HOSTS is strict: DJANGO_ALLOWED_HOSTS (a secret) names only the template's
`[deploy] health_host` and `shop.test`, the name every request through the lb carries;
so every health check (deploy, flip, secrets restart, release watch) must send
health_host, and any request with another Host gets Django's 400.

A second project (``shop``) beside the session's ``demo`` on the same rig: its own
ports (8900/8910), its own nginx site on the lb (port 8081), its own index. PostgreSQL is
a throwaway cluster on the rig's bridge address (tests/rig_postgres.py)."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import tomllib
import urllib.error
import urllib.request

import pytest

from rig_postgres import postgres
from rig_project import Project, free_port, serving
from test_flip import parse_wrk

pytestmark = [pytest.mark.rig, pytest.mark.slow]
WEB = ["web1", "web2"]
LISTEN = 8081
NAME = "shop.test"          # what the site is reached by: the Host of every request below


def es(project, *args, ok=True):
    p = project.es(*args, check=ok is True)
    assert ok is not False or p.returncode != 0, p.stdout + p.stderr
    return p


def shop_toml(rig, project, template):
    """The rig's essay.toml, with the template's own [deploy] health_host and release (the
    release also notes the host it ran on, to count the runs); a short release watch."""
    deploy = template["deploy"]
    release = deploy["release"] + " && echo $ESSAY_HOST >> ~/shop-migrated"
    text = rig.essay_toml("shop", index_url=project.index_url,
                          upload_url=f"http://{rig.index_address}:{project.port}/")
    text = text.replace('health_path = "/health"\n',
                        f'health_path = "/health"\nhealth_host = "{deploy["health_host"]}"\n'
                        f"release = {json.dumps(release)}\n")
    text = text.replace("a = 8800\nb = 8810", "a = 8900\nb = 8910")
    text = text.replace("demo.conf", "shop.conf").replace("listen = 8080", f"listen = {LISTEN}")
    return text + "\n[release]\ngrace = 3\n"


@pytest.fixture(scope="module")
def shop(rig, tmp_path_factory):
    from essay.create import create

    work = tmp_path_factory.mktemp("shop")
    media = tempfile.mkdtemp(prefix="essay-media-")   # the storage both web hosts mount
    os.chmod(media, 0o777)
    with postgres(rig.index_address) as pg:
        url = pg.database("shop")
        path = create("shop", template="django", output_dir=str(work), no_input=True)
        project = Project(rig, path, free_port())
        project.template = tomllib.loads((path / "essay.toml").read_text())
        (path / "essay.toml").write_text(shop_toml(rig, project, project.template))
        project.git("commit", "-qam", "essay.toml for the rig")
        project.database_url, project.pg, project.media = url, pg, media
        try:
            with serving(project, work, prefix="~/shop"):
                yield project
        finally:
            for h in WEB:
                rig.sh(h, "rm -f ~/shop-migrated", check=False)
            shutil.rmtree(media, ignore_errors=True)


SECRET_KEY = "s3cr3t-" + os.urandom(12).hex()
#: what `es run` runs on a host: the sha256 of the key Django's settings hold (not the key)
KEY_DIGEST = ("import hashlib; from django.conf import settings; "
              "print(hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest())")


def secrets(project, *pairs, restart=()):
    """Set each (KEY, value) through `es secrets` (values on stdin)."""
    for key, value in pairs:
        p = subprocess.run(project.es_argv("secrets", "set", key, *restart), input=value + "\n",
                           cwd=project.path, env=project.env(), text=True,
                           capture_output=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr


def get(rig, host, port, path, name=NAME):
    """GET from the client side with ``Host: name``: (status, body, X-Essay-Color)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(f"http://{rig.address(host)}:{port}{path}",
                                 headers={"Host": name})
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.read().decode(), r.headers.get("X-Essay-Color")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("X-Essay-Color")


def through_lb(rig, path):
    return get(rig, rig.lb, LISTEN, path)


def site_css(rig):
    """The site stylesheet's hashed URL on the page the live colour serves."""
    status, page, _ = through_lb(rig, "/")
    css = re.search(r'href="(/static/shop/site\.[0-9a-f]{12}\.css)"', page)
    assert status == 200 and css, page[:2000]
    return css.group(1)


def assets_from(rig, color, *urls):
    """Every URL answers 200 through the lb, from ``color`` -- several times, so both web
    hosts (and both processes of each) answer."""
    for url in urls:
        for _ in range(4):
            status, body, served = through_lb(rig, url)
            assert (status, served) == (200, color), (url, status, served, body[:300])


def migrated(rig):
    return {h: rig.sh(h, "cat ~/shop-migrated 2>/dev/null || true").stdout.split() for h in WEB}


def test_django_with_postgresql_migrates_once_serves_the_database_static_and_media(rig, shop):
    health_host = shop.template["deploy"]["health_host"]
    assert shop.template["deploy"]["release"] == "python -m shop migrate --noinput"
    secrets(shop, ("DATABASE_URL", shop.database_url), ("SECRET_KEY", SECRET_KEY),
            ("DJANGO_ALLOWED_HOSTS", f"{health_host},{NAME}"))
    v1 = shop.build()
    p = es(shop, "deploy", v1, "--color", "a")
    # the release command ran once, on the first web host
    assert migrated(rig) == {"web1": ["web1"], "web2": []}, p.stderr
    assert "Applying auth.0001_initial" in p.stdout + p.stderr
    tables = shop.pg.psql("select count(*) from django_migrations", db="shop").strip()
    assert int(tables) > 10
    es(shop, "flip", "a")
    # the deployed app's settings hold the key set with `es secrets` (no development key)
    p = es(shop, "run", "--", "python", "-m", "shop", "shell", "-c", KEY_DIGEST)
    assert p.stdout.strip().splitlines()[-1] == \
        hashlib.sha256(SECRET_KEY.encode()).hexdigest(), p.stdout + p.stderr
    assert SECRET_KEY not in p.stdout + p.stderr
    status, body, _ = through_lb(rig, "/db")
    assert status == 200, body
    assert json.loads(body)["migrations"] == int(tables)
    # ALLOWED_HOSTS is strict: another name is refused, so the checks above sent health_host
    assert get(rig, rig.lb, LISTEN, "/db", name="other.test")[0] == 400
    # the admin's CSS and the site's, by their hashed names, through nginx
    status, page, _ = through_lb(rig, "/admin/login/")
    assert status == 200, page
    admin_css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
    assert admin_css, page[:2000]
    css_v1 = site_css(rig)
    assets_from(rig, "a", admin_css.group(1), css_v1)

    # uploads: on storage both web hosts share (a secret names it; the live colour
    # restarts to read it, health-checked with health_host), written by `es run` on web1,
    # served at /media/ by every process of the live colour on both hosts
    secrets(shop, ("DJANGO_MEDIA_ROOT", shop.media), restart=("--restart", "--live"))
    p = es(shop, "run", "--", "python", "-m", "shop", "shell", "-c",
           "from django.core.files.base import ContentFile\n"
           "from django.core.files.storage import default_storage as s\n"
           "print(s.save('notes/hello.txt', ContentFile(b'uploaded in a')))")
    upload = "/media/" + p.stdout.strip().splitlines()[-1]
    assets_from(rig, "a", upload)
    assert through_lb(rig, upload)[1] == "uploaded in a"

    # a second version with another stylesheet, released (build, deploy into b, flip,
    # watch: healthy, no rollback), rolled back from and flipped to again -- under load on
    # the page that reads the database; both versions' CSS answer from whichever colour
    # is live (a's page finds its CSS on b, b's on a)
    with open(shop.path / "shop" / "static" / "shop" / "site.css", "a") as f:
        f.write("h1 { color: #036; }\n")
    shop.git("commit", "-qam", "a darker heading")
    wrk = subprocess.Popen(["wrk", "-t2", "-c8", "-d300s", "-H", f"Host: {NAME}",
                            f"http://{rig.address(rig.lb)}:{LISTEN}/db"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2)
        p = es(shop, "release")
        out = p.stdout + p.stderr
        assert "rolled back" not in out and "released shop" in out, out
        v2 = p.stdout.strip().splitlines()[-1]
        css_v2 = site_css(rig)
        assert css_v2 != css_v1
        assets_from(rig, "b", css_v1, css_v2, upload)
        es(shop, "rollback")
        assets_from(rig, "a", css_v1, css_v2, upload)
        es(shop, "flip", "b")
        assets_from(rig, "b", css_v1, css_v2, admin_css.group(1))
    finally:
        wrk.send_signal(signal.SIGINT)
        text, _ = wrk.communicate(timeout=30)
    result = parse_wrk(text)
    assert result["requests"] > 100 and result["non2xx"] == 0 and \
        result["socket_errors"] == 0, text
    assert migrated(rig) == {"web1": ["web1", "web1"], "web2": []}
    assert json.loads(through_lb(rig, "/db")[1])["version"] == v2


def test_a_failing_release_on_django_leaves_both_colours_as_they_were(rig, shop):
    text = (shop.path / "essay.toml").read_text()
    (shop.path / "essay.toml").write_text(text.replace(
        'migrate --noinput', 'migrate nosuchapp --noinput'))
    try:
        before = {c: json.loads(get(rig, "web1", port, "/db")[1])["version"]
                  for c, port in (("a", 8900), ("b", 8910))}
        v3 = shop.build()
        p = es(shop, "deploy", v3, ok=False)
        assert "the release command failed on web1" in p.stdout + p.stderr
        after = {c: json.loads(get(rig, "web1", port, "/db")[1])["version"]
                 for c, port in (("a", 8900), ("b", 8910))}
        assert after == before
    finally:
        (shop.path / "essay.toml").write_text(text)
