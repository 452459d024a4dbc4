/* What the plane reads of an INVITE or ACK in canonical form (scan.c). */
#ifndef CP_SCAN_H
#define CP_SCAN_H

#include <stddef.h>

#include "lex.h"

enum { CP_INVITE = 1, CP_ACK = 2 };

/* A request longer than this URI is the Python core's (proxy.py _URI_MAX). */
#define CP_URI_MAX 512
/* Header lines the plane reads; a request with more is the Python core's. */
#define CP_MAX_LINES 100

typedef struct cp_request {
    int method;
    cp_span user;             /* the Request-URI's user part: what was dialled */
    cp_span echo[CP_MAX_LINES]; /* Via, From, Call-ID, CSeq lines (no CRLF), in order */
    int necho;
    int top;                  /* index in echo of the top Via */
    cp_span top_value;        /* its value */
    cp_via via;               /* it, read */
    cp_span to;               /* the To value (no tag: an initial request) */
    cp_span call_id;
    int max_forwards;         /* -1: absent */
} cp_request;

/* 1: `data` is a request the plane takes, read into `r`; 0: the Python core's.
 * `own` is the edge's Via sent-by: a request carrying it is the core's (loop, 482). */
int cp_scan(const char *data, size_t len, size_t max_size, const char *own, size_t own_len,
            cp_request *r);

#endif
