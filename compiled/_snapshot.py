"""Snapshot file format, with a pure-Python encoder and a validating decoder.

PrefixTrie writes and reads the arrays in C; ReferenceTrie uses encode()/decode() here, so the
two are independent implementations of one layout and the tests compare their bytes.

Layout (all little-endian), see compiled/README.md:

    offset  size  field
    0       8     MAGIC
    8       4     format version (FORMAT_VERSION)
    12      4     zlib.crc32 of every byte from offset 16 to the end
    16      8     node count N (>= 1, the root always exists)
    24      8     prefix count P (nodes holding a value)
    32      16*B  B = ceil(N / 5) blocks: u64 bits, u32 child_base, u32 value_base
    ...     4*P   values in node (BFS) order
"""

from __future__ import annotations

import os
import struct
import zlib

from compiled._common import MAX_DIGITS, MAX_VALUE, TrieError

__all__ = [
    "BLOCK",
    "FORMAT_VERSION",
    "HEADER",
    "MAGIC",
    "NODES_PER_BLOCK",
    "decode",
    "encode",
    "layout_stats",
    "pack_header",
    "parse_header",
    "read",
    "write_atomic",
]

MAGIC = b"CPTRIE\r\n"  # \r\n catches text-mode mangling, as PNG's magic does
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sIIQQ")
BLOCK = struct.Struct("<QII")
NODES_PER_BLOCK = 5  # 5 nodes x 10 child bits + 5 value bits = 55 of the 64 bits
_VALUE_SHIFT = 50
_USED_BITS = (1 << 55) - 1
_CRC_FROM = 16
_MAX_NODES = 2**32 - 1  # child_base and node ids are uint32


def pack_header(nodes: int, prefixes: int, payload: bytes) -> bytes:
    """Return the 32-byte header for payload (the blocks followed by the values)."""
    counts = struct.pack("<QQ", nodes, prefixes)
    crc = zlib.crc32(payload, zlib.crc32(counts))
    return HEADER.pack(MAGIC, FORMAT_VERSION, crc, nodes, prefixes)


def parse_header(data: bytes) -> tuple[int, int]:
    """Check magic, version, size and checksum of a snapshot; return (nodes, prefixes)."""
    if len(data) < HEADER.size:
        raise TrieError(
            f"truncated snapshot: expected at least {HEADER.size} header bytes, found {len(data)}"
        )
    magic, version, crc, nodes, prefixes = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise TrieError(f"not a trie snapshot: expected magic {MAGIC!r}, found {magic!r}")
    if version != FORMAT_VERSION:
        raise TrieError(f"unsupported snapshot format version {version}, expected {FORMAT_VERSION}")
    if not 1 <= nodes <= _MAX_NODES or prefixes > nodes:
        raise TrieError(
            f"corrupt snapshot: counts nodes={nodes} prefixes={prefixes}, "
            f"expected 1 <= nodes <= {_MAX_NODES} and prefixes <= nodes"
        )
    blocks = -(-nodes // NODES_PER_BLOCK)
    size = HEADER.size + BLOCK.size * blocks + 4 * prefixes
    if len(data) < size:
        raise TrieError(f"truncated snapshot: header promises {size} bytes, found {len(data)}")
    if len(data) > size:
        raise TrieError(f"corrupt snapshot: header promises {size} bytes, found {len(data)}")
    computed = zlib.crc32(memoryview(data)[_CRC_FROM:])
    if computed != crc:
        raise TrieError(
            f"corrupt snapshot: checksum mismatch (stored {crc:#010x}, computed {computed:#010x})"
        )
    return nodes, prefixes


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write data to path via a temp file and rename, so a reader sees the old or the new file."""
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read(path: str | os.PathLike[str]) -> bytes:
    """Return the bytes of a snapshot file."""
    with open(path, "rb") as f:
        return f.read()


def _node_names(table: dict[str, int]) -> set[str]:
    """Return the trie's nodes: every prefix of every key, the root ("") included."""
    names = {""}
    for key in table:
        names.update(key[:i] for i in range(1, len(key) + 1))
    return names


def layout_stats(table: dict[str, int]) -> dict[str, int]:
    """Return the stats() PrefixTrie reports for this table."""
    nodes = len(_node_names(table))
    blocks = -(-nodes // NODES_PER_BLOCK)
    return {
        "prefixes": len(table),
        "nodes": nodes,
        "blocks": blocks,
        "bytes": BLOCK.size * blocks + 4 * len(table),
        "max_depth": max(map(len, table), default=0),
    }


def encode(table: dict[str, int]) -> bytes:
    """Return the snapshot bytes of a validated prefix -> value table."""
    names = _node_names(table)
    # Sorting the nodes by (length, digits) is exactly BFS order with children in digit order.
    order = sorted(names, key=lambda s: (len(s), s))
    nodes = len(order)
    parts: list[bytes] = []
    values: list[int] = []
    children = 0
    for base in range(0, nodes, NODES_PER_BLOCK):
        bits = 0
        value_base = len(values)
        child_base = 1 + children
        for j, name in enumerate(order[base : base + NODES_PER_BLOCK]):
            for d in range(10):
                if name + str(d) in names:
                    bits |= 1 << (10 * j + d)
                    children += 1
            if name in table:
                bits |= 1 << (_VALUE_SHIFT + j)
                values.append(table[name])
        parts.append(BLOCK.pack(bits, child_base, value_base))
    payload = b"".join(parts) + struct.pack(f"<{len(values)}I", *values)
    return pack_header(nodes, len(values), payload) + payload


def _fail(message: str) -> TrieError:
    """Return the error for a snapshot whose checksum matched but whose structure is invalid."""
    return TrieError(f"corrupt snapshot: {message}")


class _Decoder:
    """Walks the blocks in node order, checking every invariant PrefixTrie relies on."""

    def __init__(self, nodes: int, values: tuple[int, ...]) -> None:
        self.nodes = nodes
        self.values = values
        self.names = [""] * nodes  # the digit string of each node, from its parent's
        self.next_free = 1  # the id the next child link points at: 1 + links seen so far
        self.seen_values = 0
        self.level_end = 1  # nodes below level_end are at depth <= self.depth
        self.depth = 0
        self.table: dict[str, int] = {}

    def block(self, b: int, bits: int, child_base: int, value_base: int) -> None:
        """Check one block's header fields, then each of its nodes."""
        live = min(NODES_PER_BLOCK, self.nodes - NODES_PER_BLOCK * b)
        used = ((1 << (10 * live)) - 1) | (((1 << live) - 1) << _VALUE_SHIFT)
        if bits & ~used:
            raise _fail(f"block {b} has stray bits {bits & ~used:#x}, expected none")
        if child_base != self.next_free:
            raise _fail(f"block {b} child_base {child_base}, expected {self.next_free}")
        if value_base != self.seen_values:
            raise _fail(f"block {b} value_base {value_base}, expected {self.seen_values}")
        for j in range(live):
            self.node(
                NODES_PER_BLOCK * b + j, (bits >> (10 * j)) & 0x3FF, bits >> (_VALUE_SHIFT + j) & 1
            )

    def node(self, node: int, child_bits: int, has_value: int) -> None:
        """Check one node: it has a parent, is not too deep, and is not a dead leaf."""
        if node >= self.next_free:
            raise _fail(f"node {node} has no parent")
        if node == self.level_end:  # BFS order: the first node of the next level
            self.depth += 1
            self.level_end = self.next_free
        if self.depth > MAX_DIGITS:
            raise _fail(f"node {node} at depth {self.depth}, expected at most {MAX_DIGITS}")
        if node and not child_bits and not has_value:
            raise _fail(f"node {node} has neither a value nor children")
        for d in range(10):
            if child_bits >> d & 1:
                if self.next_free < self.nodes:
                    self.names[self.next_free] = self.names[node] + str(d)
                self.next_free += 1
        if has_value:
            if self.seen_values < len(self.values):
                value = self.values[self.seen_values]
                if value > MAX_VALUE:
                    raise _fail(
                        f"value {self.seen_values} is {value}, expected at most {MAX_VALUE}"
                    )
                self.table[self.names[node]] = value
            self.seen_values += 1


def decode(data: bytes) -> dict[str, int]:
    """Validate a snapshot completely and return its prefix -> value table."""
    nodes, prefixes = parse_header(data)
    blocks = -(-nodes // NODES_PER_BLOCK)
    values = struct.unpack_from(f"<{prefixes}I", data, HEADER.size + BLOCK.size * blocks)
    dec = _Decoder(nodes, values)
    for b in range(blocks):
        dec.block(b, *BLOCK.unpack_from(data, HEADER.size + BLOCK.size * b))
    if dec.next_free != nodes:
        raise _fail(f"{dec.next_free - 1} child links, expected {nodes - 1}")
    if dec.seen_values != prefixes:
        raise _fail(f"{dec.seen_values} value bits, expected {prefixes}")
    return dec.table
