/* Feeds length-prefixed messages from stdin through the data plane's C (sip_edge/fast):
 * the INVITE/ACK scanner, the relay's scanner and the relay itself, for the
 * AddressSanitizer/UBSan run in tests/sip/test_plane_asan.py. Each record: a 4-byte
 * little-endian length, then the message. The plane relays for the edge at
 * 127.0.0.1:5060 to peers at 127.0.0.1 (its Record-Route <sip:127.0.0.1:5060;lr>), and
 * the source is such a peer; it relays the answers of one forwarded INVITE (owned.c,
 * Call-ID o1@10.0.0.7, our branch z9hG4bKcpe0123456789ab.01) for the core. Prints how many the INVITE/ACK scanner took, how many the
 * relay's scanner took, how many the plane relayed, and the total. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "plane.h"
#include "relay.h"
#include "scan.h"

int main(void)
{
    cp_limits limits;
    if (cp_limits_init(&limits, 10, 10, 1.0, 100) < 0)
        return 3;
    cp_plane *p = cp_plane_new(-1, 1, 65536, 0.5, 1000, &limits);
    if (!p)
        return 3;
    const char *host = "127.0.0.1";
    size_t host_n = strlen(host);
    if (cp_dests_set(&p->dests, &host, &host_n, 1) < 0 ||
        cp_plane_set_peer(p, 0x7f000001u, 0, -1) < 0)
        return 3;
    strcpy(p->via_host, "127.0.0.1:5060");
    p->via_host_len = strlen(p->via_host);
    strcpy(p->rr, "<sip:127.0.0.1:5060;lr>");
    p->rr_len = strlen(p->rr);
    memcpy(p->secret, "callpolicy-edge", 15);
    p->secret_len = 15;
    p->relay = 1;
    p->enabled = 1;
    struct sockaddr_in src = {0};
    src.sin_family = AF_INET;
    src.sin_port = htons(5061);
    src.sin_addr.s_addr = htonl(0x7f000001u);

    unsigned char len4[4];
    unsigned long scanned = 0, relay_scanned = 0, relayed = 0, total = 0;
    while (fread(len4, 1, 4, stdin) == 4) {
        size_t n = (size_t)len4[0] | (size_t)len4[1] << 8 | (size_t)len4[2] << 16 |
                   (size_t)len4[3] << 24;
        /* An exact-size heap block: a read past the message is a sanitizer report. */
        char *data = malloc(n ? n : 1);
        if (!data || fread(data, 1, n, stdin) != n)
            return 2;
        cp_request r;
        cp_relay rel;
        scanned += (unsigned long)cp_scan(data, n, 65535, p->via_host, p->via_host_len, &r);
        relay_scanned += (unsigned long)cp_scan_relay(data, n, 65535, &rel);
        cp_span call_id = {"o1@10.0.0.7", 11}, branch = {"z9hG4bKcpe0123456789ab.01", 25};
        if (!cp_owned_find(p, call_id, branch)) {
            cp_span vias = {"Via: SIP/2.0/UDP 10.0.0.7:5061;branch=z9hG4bK-o1;rport=5061\r\n", 61};
            cp_span from = {"<sip:acme@10.0.0.7>;tag=f1", 26};
            if (cp_owned_put(p, call_id, branch, vias, from, &src, -1) < 0)
                return 3;
        }
        relayed += (unsigned long)cp_plane_handle(p, data, n, &src, 1.0);
        for (cp_owned_call *c = cp_owned_detach_returned(p), *next; c; c = next) {
            next = c->next; /* as the core takes them back (Plane.take_returned) */
            cp_owned_call_free(c);
        }
        cp_plane_drop_queued(p);
        unsigned k;
        cp_queued *q = cp_plane_take_queue(p, &k);
        for (unsigned i = 0; i < k; i++)
            free(q[i].data);
        free(q);
        total++;
        free(data);
    }
    printf("%lu %lu %lu %lu\n", scanned, relay_scanned, relayed, total);
    cp_plane_free(p);
    cp_limits_free(&limits);
    return 0;
}
