"""The edge's sans-IO core (RFC 3261 proxy): state, transactions, decisions and the bytes
they send, with time passed in and no sockets (``EdgeCore`` in ``proxy``). The reference
for every path: the C data plane (``sip_edge.fast``) is held to it by twin tests."""
