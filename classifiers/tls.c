/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared-object classifier "ssl": TLS handshakes; the server name (SNI) of a ClientHello
 * becomes the stream's label. */
#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t, uint32_t */
#include <string.h> /* memcpy */

#include <flowacct/classifier.h> /* fa_classifier_descriptor, FA_CLASSIFIER_EXPORT */

enum { kRecordHeader = 5, kHandshakeHeader = 4, kRandom = 32 };

static uint32_t be16(const uint8_t* p) { return ((uint32_t)p[0] << 8) | p[1]; }

/* Host names only: letters, digits, '-', '.', '_'. Anything else is not a label we keep. */
static int host_name_ok(const uint8_t* p, uint32_t n) {
    if (n == 0 || n >= FA_CLASSIFIER_LABEL_MAX) return 0;
    for (uint32_t i = 0; i < n; ++i) {
        uint8_t c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* Walks a ClientHello body (after the handshake header) to the server_name extension
 * (RFC 6066 section 3). Every length is checked against the bytes captured; a capture cut
 * short simply yields no name. */
static void find_sni(const uint8_t* p, uint32_t n, fa_classifier_result* result) {
    uint32_t off = 2 + kRandom; /* client_version, random */
    if (off + 1 > n) return;
    off += 1 + p[off]; /* session_id */
    if (off + 2 > n) return;
    off += 2 + be16(p + off); /* cipher_suites */
    if (off + 1 > n) return;
    off += 1 + p[off]; /* compression_methods */
    if (off + 2 > n) return;
    uint32_t ext_end = off + 2 + be16(p + off);
    off += 2;
    if (ext_end > n) ext_end = n;
    while (off + 4 <= ext_end) {
        uint32_t type = be16(p + off), len = be16(p + off + 2);
        off += 4;
        if (off + len > ext_end) return;
        if (type == 0 && len >= 5) {
            /* server_name_list: length(2), then entries of name_type(1) length(2) name */
            uint32_t list_end = off + 2 + be16(p + off);
            uint32_t e = off + 2;
            if (list_end > off + len) list_end = off + len;
            while (e + 3 <= list_end) {
                uint32_t name_len = be16(p + e + 1);
                if (e + 3 + name_len > list_end) return;
                if (p[e] == 0 && host_name_ok(p + e + 3, name_len)) {
                    memcpy(result->label, p + e + 3, name_len);
                    result->label[name_len] = '\0';
                    return;
                }
                e += 3 + name_len;
            }
            return;
        }
        off += len;
    }
}

static fa_classifier_verdict tls_classify(void* ctx, void* state, const fa_classifier_stream* stream,
                                          const uint8_t* payload, uint32_t len, fa_classifier_direction direction,
                                          fa_classifier_result* result) {
    (void)ctx;
    (void)state;
    (void)direction;
    if (stream->proto != 6) return FA_CLASSIFIER_GIVE_UP;
    /* A handshake record (22) of SSL 3.0 .. TLS 1.3 (0x0300 .. 0x0304 on the wire). */
    if (len < kRecordHeader + kHandshakeHeader || payload[0] != 22 || payload[1] != 3 || payload[2] > 4)
        return FA_CLASSIFIER_GIVE_UP;
    uint32_t record_len = be16(payload + 3);
    uint8_t handshake = payload[kRecordHeader];
    if (record_len < kHandshakeHeader || (handshake != 1 && handshake != 2)) return FA_CLASSIFIER_GIVE_UP;
    if (handshake == 1) {
        uint32_t body_len = ((uint32_t)payload[6] << 16) | ((uint32_t)payload[7] << 8) | payload[8];
        uint32_t avail = len - kRecordHeader - kHandshakeHeader;
        if (body_len < avail) avail = body_len;
        find_sni(payload + kRecordHeader + kHandshakeHeader, avail, result);
    }
    return FA_CLASSIFIER_MATCH;
}

static const fa_classifier_descriptor kDescriptor = {
    sizeof(fa_classifier_descriptor), FA_CLASSIFIER_ABI_VERSION, "ssl", "1.0.0",
    "TLS handshakes; the ClientHello server name becomes the label", 0, 0, NULL, NULL, tls_classify, NULL,
};

FA_CLASSIFIER_EXPORT(kDescriptor)
