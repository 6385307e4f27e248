"""The ``flowagents`` command line: ``graph`` here; ``console``, ``dev``, ``start``, ``connect``
in their own modules, loaded on demand by :mod:`flowagents.cli.main`."""
