"""The per-call path: dial strings, compiled accounts, decide(), the running snapshot and the
change-feed follower.

Import public names from ``policy``; these modules are its implementation."""
