/* The relayed messages of a call the plane carries without Python (relay.c): requests
 * inside a dialog the edge record-routed (ACK of a 2xx, BYE, INFO, UPDATE ...) and the
 * responses to them, spliced as the core's relay fast path (sip_edge/fastpath.py
 * `_in_dialog_fast`, `_respond_fast`) writes them: a few lines changed, the rest as
 * received. What relay_scan.c reads is a narrowing of `scan_relay` (sip_edge/_wire.pyx),
 * so every message it takes is one the core's relay would take, with the same bytes. */
#ifndef CP_RELAY_H
#define CP_RELAY_H

#include <stddef.h>

#include "lex.h"

#define CP_RELAY_VIAS 16
#define CP_RELAY_ROUTES 16
/* Header lines a relayed message may have (_wire.pyx _max_headers). */
#define CP_RELAY_LINES 128

/* A header line: its start, its end past the CRLF, its value. */
typedef struct cp_line {
    size_t start, end;
    cp_span value;
} cp_line;

typedef struct cp_relay {
    int status;              /* 0: a request */
    cp_span method;          /* a request's method */
    cp_span uri;             /* a request's Request-URI */
    size_t first_header;     /* just past the start line's CRLF */
    cp_span to, call_id, cseq;
    cp_span cseq_method;
    cp_line mf, from;
    cp_line length;          /* Content-Length, the last header line */
    int length_padded;       /* written with more than one space: not as serialize() does */
    int has_mf;
    cp_line vias[CP_RELAY_VIAS];  /* Via lines (a response's may hold several values) */
    int nvias;
    cp_span via_values[CP_RELAY_VIAS]; /* every Via value, in order */
    int via_line_of[CP_RELAY_VIAS];    /* the line each value is on */
    int nvalues;
    cp_line routes[CP_RELAY_ROUTES];
    int nroutes;
} cp_relay;

/* 1: `data` is a message in canonical form the plane may relay, read into `r`; 0: the
 * Python core's. */
int cp_scan_relay(const char *data, size_t len, size_t max_size, cp_relay *r);

#endif
