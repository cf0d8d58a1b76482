/* SPDX-License-Identifier: GPL-2.0-or-later */
/* flowacct shared-object classifier ABI: what a `.so` in the `classifiers` directory exports.
 *
 * Plain C, fixed-size structs and function pointers only, so a classifier built by any compiler
 * against any C or C++ runtime loads into the host. A classifier exports one symbol,
 * FA_CLASSIFIER_SYMBOL, a function returning its descriptor. The classify stage refuses (with a
 * log line naming the file, and keeps every other classifier working) a file whose descriptor
 * has another `abi_version`, a NULL classify, a state larger than FA_CLASSIFIER_MAX_STATE, or
 * whose init() fails.
 *
 * Threads: one classify stage runs per pipeline, on the pipeline's thread; each stage calls
 * init() once and gets its own `ctx`, so calls with one ctx never overlap. A classifier that
 * keeps process-wide state must lock it itself.
 *
 * Streams: the stage keeps a bidirectional stream table. The first payload-carrying packets of
 * each stream (`classifier_tentatives`, both directions counted) are offered to every
 * classifier that has neither matched nor given up on it. Once one matches, every later packet
 * of the stream, in both directions, is accounted with its class.
 */
#ifndef FLOWACCT_CLASSIFIER_H
#define FLOWACCT_CLASSIFIER_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t .. uint32_t */

#ifdef __cplusplus
extern "C" {
#endif

#define FA_CLASSIFIER_ABI_VERSION 1u
#define FA_CLASSIFIER_SYMBOL "flowacct_classifier_v1"
/* Largest per-stream state a classifier may ask for, in bytes. */
#define FA_CLASSIFIER_MAX_STATE 4096u
/* Room for a class name and a label in fa_classifier_result, NUL included. */
#define FA_CLASSIFIER_NAME_MAX 32u
#define FA_CLASSIFIER_LABEL_MAX 256u

/* What classify() decided about a stream. */
typedef enum fa_classifier_verdict {
    FA_CLASSIFIER_NEED_MORE = 0, /* not sure yet: offer the next payload packet */
    FA_CLASSIFIER_MATCH = 1,     /* the stream is this class (see fa_classifier_result) */
    FA_CLASSIFIER_GIVE_UP = 2    /* not this class: never offer this stream again */
} fa_classifier_verdict;

/* Which way a payload packet travels. The initiator is the side of the first packet the stage
 * saw (for TCP, the sender of a SYN without ACK when one is seen). */
typedef enum fa_classifier_direction {
    FA_CLASSIFIER_ORIGINAL = 0, /* initiator -> responder */
    FA_CLASSIFIER_REPLY = 1     /* responder -> initiator */
} fa_classifier_direction;

/* Facts about the stream, valid during one classify() call only. */
typedef struct fa_classifier_stream {
    uint32_t struct_size;
    uint8_t ip_version;          /* 4 or 6 */
    uint8_t proto;               /* IP protocol: 6 TCP, 17 UDP, ... */
    uint16_t initiator_port;     /* 0 for protocols without ports */
    uint16_t responder_port;
    uint16_t reserved0;
    uint32_t payload_packets;    /* payload packets of this stream offered before this one */
    const uint8_t* initiator_ip; /* 16 bytes; IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d) */
    const uint8_t* responder_ip; /* 16 bytes */
    uint64_t time_us;            /* the packet's time, microseconds since the Unix epoch */
} fa_classifier_stream;

/* Filled by classify() on FA_CLASSIFIER_MATCH. Both strings are NUL-terminated; the stage
 * pre-zeroes the struct before each call. */
typedef struct fa_classifier_result {
    /* The class; empty means the descriptor's `protocol`. Printable ASCII. */
    char class_name[FA_CLASSIFIER_NAME_MAX];
    /* Optional label (for instance a TLS server name) put into the `label` primitive of every
     * packet of the stream; empty for none. Printable ASCII; the stage drops other bytes. */
    char label[FA_CLASSIFIER_LABEL_MAX];
} fa_classifier_result;

typedef struct fa_classifier_descriptor {
    uint32_t struct_size;   /* sizeof(fa_classifier_descriptor) the classifier was built with */
    uint32_t abi_version;   /* FA_CLASSIFIER_ABI_VERSION */
    const char* protocol;   /* default class name, e.g. "ssl"; printable ASCII, < 32 bytes */
    const char* version;    /* the classifier's own version, e.g. "1.0.0" */
    const char* description;/* one line */
    /* Bytes of per-stream state; 0 for none. The stage zeroes it before the stream's first
     * classify() and drops it once the stream is classified, given up on, expired or the stage
     * reloads or stops, calling stream_end() first when the classifier has one. */
    uint32_t state_size;
    uint32_t reserved0;

    /* Stage creation and every reload, on the pipeline's or the main thread. `config` is the
     * classifiers directory (where a classifier may look for its own files). Return 0 and set
     * *ctx (may stay NULL), or non-zero after writing a one-line reason into `error`
     * (`error_len` bytes, NUL included): the classifier is then refused. May be NULL. */
    int (*init)(void** ctx, const char* config, char* error, size_t error_len);
    /* Once per successful init(), when the stage goes away or reloads. May be NULL. */
    void (*teardown)(void* ctx);
    /* Pipeline thread, once per payload packet of a stream still pending for this classifier.
     * `state` is this stream's state_size bytes (NULL when state_size is 0); `payload` holds
     * the first `len` bytes of the packet's L4 payload (the capture may have cut the rest).
     * Must not block, must not keep `payload`, `stream` or `result` after returning. */
    fa_classifier_verdict (*classify)(void* ctx, void* state, const fa_classifier_stream* stream,
                                      const uint8_t* payload, uint32_t len,
                                      fa_classifier_direction direction, fa_classifier_result* result);
    /* Pipeline thread (or the thread destroying the stage), once for each stream whose state
     * block was handed out, just before the stage drops it: release what the state owns. The
     * block may still be all zeroes if classify() never ran for this classifier (another one
     * matched first). May be NULL; never called when state_size is 0. */
    void (*stream_end)(void* ctx, void* state);
} fa_classifier_descriptor;

typedef const fa_classifier_descriptor* (*fa_classifier_entry)(void);

/* Exports the entry point: FA_CLASSIFIER_EXPORT(my_descriptor) with `my_descriptor` a
 * `static const fa_classifier_descriptor`. */
#if defined(_WIN32)
#define FA_CLASSIFIER_VISIBLE __declspec(dllexport)
#else
#define FA_CLASSIFIER_VISIBLE __attribute__((visibility("default")))
#endif
#ifdef __cplusplus
#define FA_CLASSIFIER_LINKAGE extern "C"
#else
#define FA_CLASSIFIER_LINKAGE
#endif
#define FA_CLASSIFIER_EXPORT(descriptor)                                                           \
    FA_CLASSIFIER_LINKAGE FA_CLASSIFIER_VISIBLE const fa_classifier_descriptor* flowacct_classifier_v1(void) { return &(descriptor); }

#ifdef __cplusplus
}
#endif

#endif /* FLOWACCT_CLASSIFIER_H */
