"""The ``bordercast`` command: one CLI in front of the library, the flows and the service."""
