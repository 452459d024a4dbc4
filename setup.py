"""Build hook: compiles the Cython extensions (trie, SIP scanner, batched UDP) on pip install."""

from Cython.Build import cythonize
from setuptools import Extension, setup

# Bounds checks are off: the trie indexes raw C arrays whose sizes are validated when a
# trie is built or loaded (compiled/README.md), and Cython's checks do not cover pointers.
setup(
    ext_modules=cythonize(
        [
            Extension("compiled._trie", ["compiled/_trie.pyx"], extra_compile_args=["-O3"]),
            Extension("sip_edge._wire", ["sip_edge/_wire.pyx"], extra_compile_args=["-O3"]),
            Extension("sip_edge._udp", ["sip_edge/_udp.pyx"], extra_compile_args=["-O3"]),
        ],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
        },
    )
)
