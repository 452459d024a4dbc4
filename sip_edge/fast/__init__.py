"""The edge's C paths: the per-call decision in C (``_cdecide``, ``decide.c``) and its rows.

``_cdecide.CRules``/``CAccount`` hold one snapshot and one account as C data for
``cp_decide`` (decide.h); ``tables.RowTable`` maps the row ids it returns back to the
Decisions ``policy.decide`` gives. Nothing is imported here, so ``tables`` loads without
the extension being built.
"""
