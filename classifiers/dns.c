/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared-object classifier "dns": a DNS message (RFC 1035 section 4.1) on any port, over UDP or
 * over TCP with its two-byte length prefix. Recognized by a well-formed header and question. */
#include <stdint.h> /* uint8_t, uint32_t */

#include <flowacct/classifier.h> /* fa_classifier_descriptor, FA_CLASSIFIER_EXPORT */

enum { kHeader = 12, kMaxName = 255 };

static uint32_t be16(const uint8_t* p) { return ((uint32_t)p[0] << 8) | p[1]; }

/* 1: a plausible DNS message with exactly one question, fully present. */
static int dns_message(const uint8_t* p, uint32_t n) {
    if (n < kHeader + 5) return 0;
    uint32_t flags = be16(p + 2);
    uint32_t opcode = (flags >> 11) & 0xf;
    if (opcode == 3 || opcode > 6) return 0;  /* unassigned opcodes */
    if (flags & 0x0040) return 0;             /* Z must be zero */
    if ((flags & 0xf) > 11) return 0;         /* RCODE in the header is 0..11 */
    if (be16(p + 4) != 1) return 0;           /* QDCOUNT: one question in practice */
    if (be16(p + 6) > 256 || be16(p + 8) > 256 || be16(p + 10) > 256) return 0;
    if (!(flags & 0x8000) && be16(p + 6) != 0) return 0; /* a query carries no answers */
    uint32_t off = kHeader, name = 0;
    for (;;) {
        if (off >= n) return 0;
        uint32_t label = p[off];
        if (label == 0) {
            ++off;
            break;
        }
        if (label > 63) return 0; /* no compression pointer in the first question */
        name += label + 1;
        if (name > kMaxName) return 0;
        off += 1 + label;
    }
    if (off + 4 > n) return 0;
    uint32_t qtype = be16(p + off), qclass = be16(p + off + 2) & 0x7fff; /* mDNS sets the top bit */
    if (qtype == 0 || (qclass != 1 && qclass != 3 && qclass != 4 && qclass != 254 && qclass != 255)) return 0;
    return 1;
}

static fa_classifier_verdict dns_classify(void* ctx, void* state, const fa_classifier_stream* stream,
                                          const uint8_t* p, uint32_t n, fa_classifier_direction direction,
                                          fa_classifier_result* result) {
    (void)ctx;
    (void)state;
    (void)direction;
    (void)result;
    if (stream->proto == 17) return dns_message(p, n) ? FA_CLASSIFIER_MATCH : FA_CLASSIFIER_GIVE_UP;
    if (stream->proto == 6) {
        if (n < 2 || be16(p) < kHeader + 5) return FA_CLASSIFIER_GIVE_UP;
        return dns_message(p + 2, n - 2) ? FA_CLASSIFIER_MATCH : FA_CLASSIFIER_GIVE_UP;
    }
    return FA_CLASSIFIER_GIVE_UP;
}

static const fa_classifier_descriptor kDescriptor = {
    sizeof(fa_classifier_descriptor), FA_CLASSIFIER_ABI_VERSION, "dns", "1.0.0",
    "DNS messages over UDP or TCP, on any port", 0, 0, NULL, NULL, dns_classify, NULL,
};

FA_CLASSIFIER_EXPORT(kDescriptor)
