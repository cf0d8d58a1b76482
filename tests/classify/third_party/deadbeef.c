/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A third-party classifier: streams whose first payload carries the magic 0xdeadbeef at byte 2
 * are class "deadbeef" (or the class given at build time as DEADBEEF_CLASS). Built outside the
 * flowacct tree against the installed SDK only. */
#include <stdint.h> /* uint8_t, uint32_t */
#include <stdlib.h> /* malloc, free */

#include <flowacct/classifier.h> /* fa_classifier_descriptor, FA_CLASSIFIER_EXPORT */

#ifndef DEADBEEF_CLASS
#define DEADBEEF_CLASS "deadbeef"
#endif

/* Counts matches per stage, to show init/teardown own a context. */
typedef struct context {
    uint32_t matches;
} context;

static int init(void** ctx, const char* config, char* error, size_t error_len) {
    (void)config;
    (void)error;
    (void)error_len;
    *ctx = calloc(1, sizeof(context));
    return *ctx ? 0 : 1;
}

static void teardown(void* ctx) { free(ctx); }

static fa_classifier_verdict classify(void* ctx, void* state, const fa_classifier_stream* stream, const uint8_t* p,
                                      uint32_t n, fa_classifier_direction direction, fa_classifier_result* result) {
    (void)state;
    (void)stream;
    (void)direction;
    (void)result;
    if (n >= 6 && p[2] == 0xde && p[3] == 0xad && p[4] == 0xbe && p[5] == 0xef) {
        ++((context*)ctx)->matches;
        return FA_CLASSIFIER_MATCH;
    }
    return FA_CLASSIFIER_GIVE_UP;
}

static const fa_classifier_descriptor kDescriptor = {
    sizeof(fa_classifier_descriptor), FA_CLASSIFIER_ABI_VERSION, DEADBEEF_CLASS, "1.0.0",
    "Streams starting with the 0xdeadbeef magic", 0, 0, init, teardown, classify, NULL,
};

FA_CLASSIFIER_EXPORT(kDescriptor)
