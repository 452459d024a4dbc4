"""Build hook: compiles the Cython prefix trie as part of every pip install."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

# CALLPOLICY_BOUNDSCHECK=1 builds with bounds and wraparound checks on (the CI sanity build).
_checked = os.environ.get("CALLPOLICY_BOUNDSCHECK") == "1"

setup(
    ext_modules=cythonize(
        [Extension("compiled._trie", ["compiled/_trie.pyx"], extra_compile_args=["-O3"])],
        compiler_directives={
            "language_level": 3,
            "boundscheck": _checked,
            "wraparound": _checked,
            "initializedcheck": _checked,
            "cdivision": True,
        },
    )
)
