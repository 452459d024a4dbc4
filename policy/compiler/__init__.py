"""The rules engine (durable-rules) and the compiler that turns rule files into an immutable
snapshot; the slow reference path and explain.

Import public names from ``policy``; these modules are its implementation."""
