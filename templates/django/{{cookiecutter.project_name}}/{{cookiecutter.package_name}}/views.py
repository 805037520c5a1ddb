"""The views.

* ``GET /``       -- a small HTML page naming the app and its version, with the site's
  stylesheet (by its hashed name, once collected)
* ``GET /health`` -- JSON that essay polls after a deploy and before a flip; it must
  answer 200 quickly and say which version this process runs (it does not touch the
  database: a slow database must not make both colours unhealthy at once)
* ``GET /db``     -- JSON read from the database: the migrations applied and the users
"""
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.templatetags.static import static
from django.utils.html import escape
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import NAME, _release


def asset(name):
    """A static file's URL: its hashed name once collected, else (a checkout) the plain one."""
    try:
        return static(name)
    except ValueError:
        return settings.STATIC_URL + name


@require_safe     # GET and HEAD only; anything else gets 405
def index(request):
    name, version = escape(NAME), escape(_release.version)
    css = escape(asset("{{ cookiecutter.package_name }}/site.css"))
    return HttpResponse(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{name}</title><link rel=\"stylesheet\" href=\"{css}\"></head>\n"
        f"<body><h1>{name}</h1><p>version {version}</p></body></html>\n"
    )


@require_safe
@never_cache
def health(request):
    return JsonResponse({"status": "ok", "name": NAME, "version": _release.version,
                         "commit": _release.commit})


@require_safe
@never_cache
def db(request):
    from django.contrib.auth import get_user_model
    from django.db.migrations.recorder import MigrationRecorder

    return JsonResponse({"migrations": MigrationRecorder.Migration.objects.count(),
                         "users": get_user_model().objects.count(),
                         "version": _release.version})
