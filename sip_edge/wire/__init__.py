"""SIP messages on the wire (RFC 3261 7, 20, 25): the reference parser (``reader``), the
model it builds (``model``), the C scanner that takes the well-formed ones (``_wire``),
the stream framing for TCP (``framing``) and the names the rest imports (``message``)."""
