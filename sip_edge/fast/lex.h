/* The lexical pieces the plane's scanners share (scan.c for the INVITE and ACK it
 * answers, relay_scan.c for what it relays): each is a narrowing of what the Python
 * scanner (sip_edge/_wire.pyx) and the reference parser (sip_edge/reader.py) accept, so
 * that anything the plane reads, the core reads the same. */
#ifndef CP_LEX_H
#define CP_LEX_H

#include <stddef.h>

typedef struct cp_span {
    const char *p;
    size_t n;
} cp_span;

/* A plain UDP Via value, "SIP/2.0/UDP host[:port](;name[=value])*" with lower-case
 * parameter names, each once, and a branch (cp_via_parse). */
typedef struct cp_via {
    cp_span host;
    cp_span sent_by;     /* host[:port] as written */
    long port;           /* 0: none written */
    cp_span branch;
    cp_span received;    /* its value (p NULL: absent) */
    cp_span rport;       /* its value (n 0: none written) */
    int has_rport;
    int rport_empty;     /* ";rport" without a value: RFC 3581 asks for it */
    size_t rport_at;     /* offset in the value just past ";rport" */
    int has_received;
} cp_via;

/* A message's head: 1, with *head_end at the CR of its last line's CRLF CRLF and *eol at
 * the end of its start line, if every line break up to there is CRLF and it does not
 * start with one; else 0. */
int cp_head(const char *p, size_t len, size_t *head_end, size_t *eol);
/* No control character (below SP, or DEL; HTAB too) in a header value: the plane
 * leaves such values to the core. */
int cp_printable(const char *p, size_t n);
int cp_is_token(unsigned char c);
int cp_lower(int c);
/* `a` (n bytes) equals the lower-case `b`, ignoring case. */
int cp_ieq(const char *a, size_t n, const char *b);
/* 1..max decimal digits into *out. */
int cp_digits(const char *p, size_t n, size_t max, long *out);
int cp_contains(const char *p, size_t n, const char *needle, size_t m);
/* Any Via the Python scanner takes as plain (_wire.pyx _via_plain). */
int cp_via_plain(cp_span v);
int cp_via_parse(cp_span v, cp_via *out);
/* A From or To the core's name-addr reader takes as written (narrowed). */
int cp_name_addr_plain(cp_span v);
/* No "tag" anywhere, in any spelling. */
int cp_untagged(cp_span v);
/* The tag of a bracketed name-addr ("...<uri>;tag=x"), as NameAddr.tag reads it: 1 and
 * *tag (empty if none); 0 for what the plane leaves to the core (no brackets, spaces). */
int cp_tag_of(cp_span v, cp_span *tag);

#endif
