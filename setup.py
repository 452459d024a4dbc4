"""Build hook: compiles the extensions (trie, SIP scanner, batched UDP, C paths) on pip install."""

from Cython.Build import cythonize
from setuptools import Extension, setup

# Bounds checks are off: the trie indexes raw C arrays whose sizes are validated when a
# trie is built or loaded (compiled/README.md), and Cython's checks do not cover pointers.
setup(
    ext_modules=cythonize(
        [
            Extension("compiled._trie", ["compiled/_trie.pyx"], extra_compile_args=["-O3"]),
            # sdp.c is plain C99 (the data plane will compile it too).
            Extension(
                "sip_edge.wire._wire",
                ["sip_edge/wire/_wire.pyx", "sip_edge/wire/sdp.c"],
                include_dirs=["sip_edge/wire"],
                depends=["sip_edge/wire/sdp.h"],
                extra_compile_args=["-O3"],
            ),
            Extension("sip_edge._udp", ["sip_edge/_udp.pyx"], extra_compile_args=["-O3"]),
            # decide.c is plain C99 (no Python.h), compiled in beside its Cython wrapper.
            Extension(
                "sip_edge.fast._cdecide",
                ["sip_edge/fast/_cdecide.pyx", "sip_edge/fast/decide.c"],
                include_dirs=["sip_edge/fast"],
                depends=["sip_edge/fast/decide.h"],
                extra_compile_args=["-O3"],
            ),
            # The data plane: plain C (loop.c, refuse.c, relay.c, the scanners, ...) behind a
            # Cython wrapper, deciding with decide.c compiled in again (no cross-module C
            # linking).
            Extension(
                "sip_edge.fast._plane",
                [
                    "sip_edge/fast/_plane.pyx",
                    "sip_edge/fast/loop.c",
                    "sip_edge/fast/readers.c",
                    "sip_edge/fast/refuse.c",
                    "sip_edge/fast/remembered.c",
                    "sip_edge/fast/peers.c",
                    "sip_edge/fast/outbox.c",
                    "sip_edge/fast/scan.c",
                    "sip_edge/fast/lex.c",
                    "sip_edge/fast/relay.c",
                    "sip_edge/fast/relay_scan.c",
                    "sip_edge/fast/owned.c",
                    "sip_edge/fast/blake2b.c",
                    "sip_edge/fast/admission.c",
                    "sip_edge/fast/fifo.c",
                    "sip_edge/fast/limits.c",
                    "sip_edge/fast/logline.c",
                    "sip_edge/fast/decide.c",
                ],
                include_dirs=["sip_edge/fast"],
                depends=[
                    "sip_edge/fast/plane.h",
                    "sip_edge/fast/scan.h",
                    "sip_edge/fast/lex.h",
                    "sip_edge/fast/relay.h",
                    "sip_edge/fast/blake2b.h",
                    "sip_edge/fast/admission.h",
                    "sip_edge/fast/fifo.h",
                    "sip_edge/fast/_admission.pxi",
                    "sip_edge/fast/buf.h",
                    "sip_edge/fast/decide.h",
                ],
                extra_compile_args=["-O3", "-Wall", "-Wextra", "-Wno-unused-function"],
            ),
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
