"""Stage 4, traffic: flip nginx between colours, roll back, canary weights.

:mod:`essay.flip.commands` builds what runs on an lb host (pure functions);
:mod:`essay.flip.cli` is ``es flip`` and ``es rollback``. See docs/flip.md for why a flip
switches a marker nginx reads per request instead of reloading nginx.
"""
