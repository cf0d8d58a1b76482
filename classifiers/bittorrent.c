/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared-object classifier "bittorrent": the peer wire handshake (BEP 3), DHT messages over
 * UDP (BEP 5) and HTTP tracker announces. */
#include <stdint.h> /* uint8_t, uint32_t */
#include <string.h> /* memcmp */

#include <flowacct/classifier.h> /* fa_classifier_descriptor, FA_CLASSIFIER_EXPORT */

static int starts_with(const uint8_t* p, uint32_t n, const char* s, uint32_t sn) {
    return n >= sn && memcmp(p, s, sn) == 0;
}

/* "?info_hash=" or "&info_hash=" somewhere in the first line. */
static int has_info_hash(const uint8_t* p, uint32_t n) {
    static const char k[] = "info_hash=";
    const uint32_t kn = sizeof k - 1;
    for (uint32_t i = 1; i + kn <= n && p[i] != '\r' && p[i] != '\n'; ++i)
        if ((p[i - 1] == '?' || p[i - 1] == '&') && memcmp(p + i, k, kn) == 0) return 1;
    return 0;
}

static fa_classifier_verdict bt_classify(void* ctx, void* state, const fa_classifier_stream* stream,
                                         const uint8_t* p, uint32_t n, fa_classifier_direction direction,
                                         fa_classifier_result* result) {
    (void)ctx;
    (void)state;
    (void)result;
    if (stream->proto == 6) {
        /* Both peers send the handshake; the initiator's comes first, but a capture may miss it. */
        if (starts_with(p, n, "\x13" "BitTorrent protocol", 20)) return FA_CLASSIFIER_MATCH;
        if (direction == FA_CLASSIFIER_ORIGINAL &&
            (starts_with(p, n, "GET /announce", 13) || starts_with(p, n, "GET /scrape", 11)) && has_info_hash(p, n))
            return FA_CLASSIFIER_MATCH;
        /* Give the reply direction one chance when the first payload came from the initiator. */
        return stream->payload_packets == 0 ? FA_CLASSIFIER_NEED_MORE : FA_CLASSIFIER_GIVE_UP;
    }
    if (stream->proto == 17) {
        /* A bencoded dictionary with a query ("a") or response ("r") holding a 20-byte node id. */
        if (starts_with(p, n, "d1:ad2:id20:", 12) || starts_with(p, n, "d1:rd2:id20:", 12)) return FA_CLASSIFIER_MATCH;
        return FA_CLASSIFIER_GIVE_UP;
    }
    return FA_CLASSIFIER_GIVE_UP;
}

static const fa_classifier_descriptor kDescriptor = {
    sizeof(fa_classifier_descriptor), FA_CLASSIFIER_ABI_VERSION, "bittorrent", "1.0.0",
    "BitTorrent peer handshakes, DHT messages and tracker announces", 0, 0, NULL, NULL, bt_classify, NULL,
};

FA_CLASSIFIER_EXPORT(kDescriptor)
