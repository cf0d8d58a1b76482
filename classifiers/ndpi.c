/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared-object classifier "ndpi": application detection by nDPI (Debian's libndpi), as
 * pmacct 1.7+ classifies. The stream state is nDPI's own flow struct; the class is nDPI's
 * protocol name in lower case ("tls", "http", "dns", "google"...), and the server name nDPI
 * found (TLS SNI, HTTP Host, DNS query) becomes the label.
 *
 * nDPI dissects IP packets while the stage hands over L4 payloads: each payload gets a
 * synthetic IPv4/IPv6 + TCP/UDP header rebuilt from the stream's endpoints, with TCP sequence
 * numbers kept in the state so nDPI never takes a payload for a retransmission. */
#include <stdint.h> /* uint8_t .. uint64_t */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc, free */
#include <string.h> /* memcpy, memset */

#include <ndpi_api.h> /* ndpi_init_detection_module, ndpi_detection_process_packet */

#include <flowacct/classifier.h> /* fa_classifier_descriptor, FA_CLASSIFIER_EXPORT */

enum { kMaxPayload = 1400, kIp4 = 20, kIp6 = 40, kTcp = 20, kUdp = 8 };

typedef struct stream_state {
    struct ndpi_flow_struct flow;
    uint32_t seq[2];  /* next sequence number per direction (original, reply) */
    uint32_t used;    /* nDPI has seen this flow: stream_end frees its data */
} stream_state;

typedef struct context {
    struct ndpi_detection_module_struct* ndpi;
    uint8_t packet[kIp6 + kTcp + kMaxPayload];
} context;

static int ndpi_init(void** out, const char* config, char* error, size_t error_len) {
    (void)config;
    context* c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(error, error_len, "out of memory");
        return 1;
    }
    c->ndpi = ndpi_init_detection_module(ndpi_no_prefs);
    if (!c->ndpi) {
        free(c);
        snprintf(error, error_len, "nDPI %s failed to initialize", ndpi_revision());
        return 2;
    }
    NDPI_PROTOCOL_BITMASK all;
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(c->ndpi, &all);
    ndpi_finalize_initialization(c->ndpi);
    *out = c;
    return 0;
}

static void ndpi_teardown(void* ctx) {
    context* c = ctx;
    if (!c) return;
    ndpi_exit_detection_module(c->ndpi);
    free(c);
}

static void ndpi_stream_end(void* ctx, void* state) {
    (void)ctx;
    stream_state* s = state;
    if (s->used) ndpi_free_flow_data(&s->flow);
}

static void put16(uint8_t* p, uint32_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t* p, uint32_t v) {
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

/* Builds the IP packet nDPI expects around `payload`; returns its length. */
static uint32_t build_packet(context* c, stream_state* s, const fa_classifier_stream* st, const uint8_t* payload,
                             uint32_t len, fa_classifier_direction dir) {
    const int reply = dir == FA_CLASSIFIER_REPLY;
    const uint8_t* src = reply ? st->responder_ip : st->initiator_ip;
    const uint8_t* dst = reply ? st->initiator_ip : st->responder_ip;
    const uint16_t sport = reply ? st->responder_port : st->initiator_port;
    const uint16_t dport = reply ? st->initiator_port : st->responder_port;
    const uint32_t l4 = st->proto == 6 ? kTcp : kUdp;
    const uint32_t l3 = st->ip_version == 6 ? kIp6 : kIp4;
    uint8_t* p = c->packet;
    memset(p, 0, l3 + l4);
    if (st->ip_version == 6) {
        p[0] = 0x60;
        put16(p + 4, l4 + len);
        p[6] = st->proto;
        p[7] = 64;
        memcpy(p + 8, src, 16);
        memcpy(p + 24, dst, 16);
    } else {
        p[0] = 0x45;
        put16(p + 2, l3 + l4 + len);
        p[8] = 64;
        p[9] = st->proto;
        memcpy(p + 12, src + 12, 4);
        memcpy(p + 16, dst + 12, 4);
    }
    uint8_t* h = p + l3;
    put16(h, sport);
    put16(h + 2, dport);
    if (st->proto == 6) {
        if (!s->seq[0]) {
            s->seq[0] = 1000;
            s->seq[1] = 500000;
        }
        put32(h + 4, s->seq[reply]);
        put32(h + 8, s->seq[!reply]);
        h[12] = 0x50;
        h[13] = 0x18; /* PSH ACK */
        put16(h + 14, 65535);
        s->seq[reply] += len;
    } else {
        put16(h + 4, kUdp + len);
    }
    memcpy(h + l4, payload, len);
    return l3 + l4 + len;
}

static fa_classifier_verdict ndpi_classify(void* ctx, void* state, const fa_classifier_stream* st, const uint8_t* payload,
                                           uint32_t len, fa_classifier_direction dir, fa_classifier_result* result) {
    context* c = ctx;
    stream_state* s = state;
    if ((st->proto != 6 && st->proto != 17) || (st->ip_version != 4 && st->ip_version != 6))
        return FA_CLASSIFIER_GIVE_UP;
    if (len > kMaxPayload) len = kMaxPayload;
    uint32_t n = build_packet(c, s, st, payload, len, dir);
    s->used = 1;
    ndpi_protocol proto = ndpi_detection_process_packet(c->ndpi, &s->flow, c->packet, (unsigned short)n, st->time_us / 1000);
    uint16_t id = proto.app_protocol != NDPI_PROTOCOL_UNKNOWN ? proto.app_protocol : proto.master_protocol;
    if (id == NDPI_PROTOCOL_UNKNOWN) return FA_CLASSIFIER_NEED_MORE;
    const char* name = ndpi_get_proto_name(c->ndpi, id);
    size_t i = 0;
    for (; name && name[i] && i + 1 < sizeof result->class_name; ++i) {
        char ch = name[i];
        result->class_name[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    result->class_name[i] = '\0';
    snprintf(result->label, sizeof result->label, "%s", s->flow.host_server_name);
    return FA_CLASSIFIER_MATCH;
}

static const fa_classifier_descriptor kDescriptor = {
    sizeof(fa_classifier_descriptor), FA_CLASSIFIER_ABI_VERSION, "ndpi", "1.0.0",
    "nDPI application detection (libndpi)", sizeof(stream_state), 0, ndpi_init, ndpi_teardown, ndpi_classify,
    ndpi_stream_end,
};

FA_CLASSIFIER_EXPORT(kDescriptor)
