"""The private index: ``es pypi serve`` runs pypiserver (:mod:`.serve`), ``es pypi sync``
fills it (:mod:`.sync`); the upload credentials are :mod:`.credentials`.

Uploads to the embedded index need a password. The first ``es pypi serve`` writes an
htpasswd file for user ``essay`` with a random password and keeps the credentials in
``.essay/credentials.json`` (mode 0600), where ``es build`` finds them. The password is
never printed, logged, or put on a command line. Any other index uses twine's own
credential sources (TWINE_USERNAME / TWINE_PASSWORD, ~/.pypirc, keyring).

The same file may hold the index's *download* credentials for the hosts (``"index"``:
:mod:`essay.config.credentials`); writing the upload ones keeps them.
"""
