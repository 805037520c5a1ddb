"""URL routes: ``/``, ``/health``, ``/db`` (reads the database), ``/admin/`` and
``/media/`` (uploads, from ``MEDIA_ROOT``). Django answers 404 for anything else. Static
files are served by WhiteNoise before any route (storage.py).

``/media/`` is served by the app, in both colours, from the storage they share: simple,
and enough for modest uploads, but each download holds a gunicorn thread for its
transfer. For large or many files, serve ``MEDIA_ROOT`` from nginx on a machine that
mounts the storage, or use object storage (essay's docs/django.md), and drop the route.
"""
import re

from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path
from django.views.static import serve

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("health", views.health, name="health"),
    path("db", views.db, name="db"),
    path("admin/", admin.site.urls),
    re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.+)$", serve,
            {"document_root": settings.MEDIA_ROOT}, name="media"),
]
