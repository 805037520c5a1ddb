"""URL routes: ``/``, ``/health``, ``/db`` (reads the database) and ``/admin/``. Django
answers 404 for anything else. Static files are served by WhiteNoise (settings.py)."""
from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("health", views.health, name="health"),
    path("db", views.db, name="db"),
    path("admin/", admin.site.urls),
]
