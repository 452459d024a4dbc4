"""The operator's rule files: their schema, the loader with located errors, operator test cases
and the published block list.

Import public names from ``policy``; these modules are its implementation."""
