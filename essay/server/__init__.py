"""``es server``: a web page for every environment, jobs on a queue, push webhooks.

The package, by part (the CLI imports none of the web stack; :mod:`essay.server.cli`
imports it only when ``es server`` runs):

* :mod:`~essay.server.settings` -- the ``[server]`` table of essay.toml and the webhook secret;
* :mod:`~essay.server.store` -- users, tokens, jobs, job logs, deliveries (SQLAlchemy on
  SQLite under ``.essay/server/``);
* :mod:`~essay.server.jobs` -- the job runner: one environment at a time, a heartbeat,
  lost jobs; each job calls the same command functions as ``es`` (:func:`essay.cli.run`);
* :mod:`~essay.server.actions` -- what a job may do (deploy, flip, rollback, ...) and
  the confirmation naming what will change;
* :mod:`~essay.server.pipeline` -- a push: fetch, test in a clean export, build, deploy, flip;
* :mod:`~essay.server.webhooks` -- GitHub/GitLab/Gitea signatures and push payloads (pure);
* :mod:`~essay.server.queue` -- huey: SQLite embedded, or Redis with ``es server worker``;
* :mod:`~essay.server.app` and :mod:`~essay.server.views` -- the Flask app and its pages.
"""
