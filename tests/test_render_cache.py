"""The rendered nginx site is cached (essay/render.py ``cached``) under the hash of all it
depends on: the same inputs give the same text without rendering; a changed template,
or a changed context, renders again -- never a stale site."""
import pytest

from essay import config, render
from essay.create import create


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return create("shop", output_dir=str(tmp_path), no_input=True)


def entries(tmp_path):
    return sorted(p.name for p in (tmp_path / "cache" / "essay" / "render").iterdir())


def test_same_inputs_same_text_from_the_cache(project, tmp_path, monkeypatch):
    cfg = config.load(path=project / "essay.toml")
    first = render.nginx_conf(cfg)
    assert len(entries(tmp_path)) == 1
    calls = []
    real = render.render
    monkeypatch.setattr(render, "render", lambda *a: calls.append(a) or real(*a))
    assert render.nginx_conf(cfg) == first and calls == []      # not rendered again


def test_a_changed_template_or_context_renders_again(project, tmp_path):
    cfg = config.load(path=project / "essay.toml")
    first = render.nginx_conf(cfg)
    conf = project / "conf" / "nginx.conf.j2"
    conf.write_text(conf.read_text() + "# one more line\n")
    second = render.nginx_conf(cfg)
    assert second == first + "# one more line\n"
    toml = project / "essay.toml"
    toml.write_text(toml.read_text().replace("listen = 80", "listen = 8081"))
    third = render.nginx_conf(config.load(path=toml))
    assert "listen 8081" in third and third != second
    assert len(entries(tmp_path)) == 3
