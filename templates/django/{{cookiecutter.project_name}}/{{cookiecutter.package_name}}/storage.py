"""Static files storage: WhiteNoise's compressed, hashed-name storage with one manifest
per colour (``staticfiles-a.json``), so two colours sharing ``STATIC_ROOT`` each map a
static name to the hashed file of their own version."""
import os

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ColourManifestStorage(CompressedManifestStaticFilesStorage):
    manifest_name = f"staticfiles-{os.environ.get('ESSAY_COLOR', 'local')}.json"
    manifest_strict = False   # an unknown name falls back to the unhashed file, not a 500
