"""The node library, grouped by role: ``ops`` (generic operators), ``audio``, ``turn`` and
``reply``. A node wraps a provider through its interface, never a concrete plugin."""
