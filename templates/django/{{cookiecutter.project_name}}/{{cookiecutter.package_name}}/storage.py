"""Static files for two colours sharing ``STATIC_ROOT`` (``{prefix}/static`` on a host).

* :class:`ColourManifestStorage` -- WhiteNoise's compressed, hashed-name storage with one
  manifest per colour (``staticfiles-a.json``), so each colour maps a static name to the
  hashed file of its own version. ``collectstatic`` never deletes: the hashed files of
  earlier versions stay, and a page of either colour finds its assets.
* :class:`ColourStaticMiddleware` -- WhiteNoise serving them without a ``stat`` per
  request (``WHITENOISE_AUTOREFRESH`` is for development). A hashed name
  (``base.3f2a9c1b7e4d.css``: the content's hash, so the file never changes) is served
  from memory: the files there when the process started, and those the other colour
  collected later -- a page of the new version whose CSS request reaches the old colour
  during a flip, a canary or after a rollback -- found on disk at their first request and
  remembered. Any other name under ``STATIC_URL`` is looked up on disk at each request
  (the colour that collected last may have replaced it); a name found nowhere goes on to
  Django (404).
"""
import os
import re

from whitenoise.middleware import WhiteNoiseMiddleware
from whitenoise.storage import CompressedManifestStaticFilesStorage

#: Django's hashed names: ``name.<12 hex digits>.ext``
HASHED = re.compile(r"\.[0-9a-f]{12}\.[^./]+$")


class ColourManifestStorage(CompressedManifestStaticFilesStorage):
    manifest_name = f"staticfiles-{os.environ.get('ESSAY_COLOR', 'local')}.json"
    manifest_strict = False   # an unknown name falls back to the unhashed file, not a 500


class ColourStaticMiddleware(WhiteNoiseMiddleware):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.autorefresh and self.static_root:   # where find_file looks on a miss
            root = os.path.join(os.path.abspath(self.static_root), "")
            self.directories.append((root, self.static_prefix))

    def __call__(self, request):
        url = request.path_info
        if self.autorefresh or not self.directories or not url.startswith(self.static_prefix):
            return super().__call__(request)
        hashed = HASHED.search(url) is not None
        found = self.files.get(url) if hashed else None
        if found is None:
            found = self.find_file(url)        # on disk: canonical paths inside the root only
            if found is not None and hashed:
                self.files[url] = found
        if found is None:
            return self.get_response(request)
        return self.serve(found, request)

    def immutable_file_test(self, path, url):
        """Cached for ever by browsers: any hashed name, of either colour's version."""
        return url.startswith(self.static_prefix) and HASHED.search(url) is not None
