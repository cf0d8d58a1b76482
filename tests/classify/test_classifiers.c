/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared-object classifiers for tests, one per -D: BAD_ABI (another ABI version), NO_SYMBOL
 * (exports no entry point), FAIL_INIT (init fails with a reason), STATEFUL (needs two payload
 * packets, one per direction, and checks its state arrives zeroed and kept). */
#include <stdint.h> /* uint8_t, uint32_t */
#include <stdio.h>  /* snprintf */
#include <string.h> /* memcmp */

#include <flowacct/classifier.h> /* fa_classifier_descriptor */

#ifdef STATEFUL
/* Per stream: which directions said "ping"/"pong", and a canary the stage must zero. */
typedef struct state {
    uint32_t seen;
    uint32_t canary;
} state;

static fa_classifier_verdict classify(void* ctx, void* raw, const fa_classifier_stream* stream, const uint8_t* p,
                                      uint32_t n, fa_classifier_direction dir, fa_classifier_result* result) {
    state* s = (state*)raw;
    (void)ctx;
    if (stream->payload_packets == 0 && (s->seen != 0 || s->canary != 0)) return FA_CLASSIFIER_GIVE_UP;
    s->canary = 0xabcd;
    if (dir == FA_CLASSIFIER_ORIGINAL && n >= 4 && memcmp(p, "ping", 4) == 0) s->seen |= 1;
    else if (dir == FA_CLASSIFIER_REPLY && n >= 4 && memcmp(p, "pong", 4) == 0) s->seen |= 2;
    else return FA_CLASSIFIER_GIVE_UP;
    if (s->seen == 3) {
        snprintf(result->class_name, sizeof result->class_name, "pingpong");
        snprintf(result->label, sizeof result->label, "port-%u", (unsigned)stream->responder_port);
        return FA_CLASSIFIER_MATCH;
    }
    return FA_CLASSIFIER_NEED_MORE;
}
#define STATE_SIZE sizeof(state)

/* States dropped so far; the test reads it through dlsym. */
static uint32_t g_stream_ends;
__attribute__((visibility("default"))) uint32_t stateful_stream_ends(void) { return g_stream_ends; }
static void stream_end(void* ctx, void* raw) {
    (void)ctx;
    (void)raw;
    ++g_stream_ends;
}
#else
#define stream_end NULL
static fa_classifier_verdict classify(void* ctx, void* raw, const fa_classifier_stream* stream, const uint8_t* p,
                                      uint32_t n, fa_classifier_direction dir, fa_classifier_result* result) {
    (void)ctx; (void)raw; (void)stream; (void)p; (void)n; (void)dir; (void)result;
    return FA_CLASSIFIER_MATCH; /* would claim every stream: it must never be loaded */
}
#define STATE_SIZE 0
#endif

#ifdef FAIL_INIT
static int init(void** ctx, const char* config, char* error, size_t error_len) {
    (void)ctx;
    (void)config;
    snprintf(error, error_len, "licence file missing");
    return 7;
}
#else
#define init NULL
#endif

static const fa_classifier_descriptor kDescriptor = {
    sizeof(fa_classifier_descriptor),
#ifdef BAD_ABI
    FA_CLASSIFIER_ABI_VERSION + 1,
#else
    FA_CLASSIFIER_ABI_VERSION,
#endif
    CLASS_NAME, "0.0.1", "test classifier", STATE_SIZE, 0, init, NULL, classify, stream_end,
};

#ifndef NO_SYMBOL
FA_CLASSIFIER_EXPORT(kDescriptor)
#else
const fa_classifier_descriptor* not_the_entry_point(void) { return &kDescriptor; }
#endif
