/* Feeds length-prefixed messages from stdin to cp_scan (sip_edge/fast/scan.c), for the
 * AddressSanitizer/UBSan run in tests/sip/test_plane_asan.py. Each record: a 4-byte
 * little-endian length, then the message. Prints how many the scanner took. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "scan.h"

int main(void)
{
    unsigned char len4[4];
    unsigned long taken = 0, total = 0;
    while (fread(len4, 1, 4, stdin) == 4) {
        size_t n = (size_t)len4[0] | (size_t)len4[1] << 8 | (size_t)len4[2] << 16 |
                   (size_t)len4[3] << 24;
        /* An exact-size heap block: a read past the message is a sanitizer report. */
        char *data = malloc(n ? n : 1);
        if (!data || fread(data, 1, n, stdin) != n)
            return 2;
        cp_request r;
        taken += (unsigned long)cp_scan(data, n, 65535, "127.0.0.1:5060", 14, &r);
        total++;
        free(data);
    }
    printf("%lu %lu\n", taken, total);
    return 0;
}
