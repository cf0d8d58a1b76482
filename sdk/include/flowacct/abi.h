/* SPDX-License-Identifier: GPL-2.0-or-later */
/* flowacct module ABI: the only thing that crosses a shared-object boundary.
 *
 * Plain C: fixed-size structs, function pointers, no C++ types, no exceptions.
 * A module exports exactly one symbol, FA_MODULE_SYMBOL, returning its descriptor.
 * The host refuses a descriptor whose abi_major differs from FA_ABI_MAJOR; minor
 * versions only append fields, and `struct_size` says how much of a struct is there.
 *
 * Addresses: IPv4 is stored as IPv4-mapped IPv6 (::ffff:a.b.c.d), so one 16-byte
 * type covers both families; `ip_version` says which one a record carries.
 * Times: microseconds since the Unix epoch (UTC).
 *
 * Minor 1 appended: fa_datagram, fa_host_api.datagrams_wanted/datagram_submit and
 * fa_output_ops.datagrams/reload (raw datagrams for replicating outputs such as tee).
 */
#ifndef FLOWACCT_ABI_H
#define FLOWACCT_ABI_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint8_t .. uint64_t */

#ifdef __cplusplus
extern "C" {
#endif

#define FA_ABI_MAJOR 1
#define FA_ABI_MINOR 1
#define FA_MODULE_SYMBOL "flowacct_module_v1"

/* ---- status ------------------------------------------------------------ */
typedef enum fa_status {
    FA_OK = 0,
    FA_EOF = 1,      /* input: the source is exhausted (a savefile ended) */
    FA_ERROR = -1,   /* failure; a message was written with host->log or into fa_error */
    FA_RETRY = -2    /* output: transient failure, the host may call again later */
} fa_status;

/* Error details filled by a failing create(): `key` names the configuration key at fault
 * (empty if none), `message` says what was expected. */
typedef struct fa_error {
    char key[64];
    char message[448];
} fa_error;

/* ---- the flow record --------------------------------------------------- */
enum fa_record_flags {
    FA_REC_FRAGMENT = 1u << 0,    /* a non-first IP fragment: ports unknown, left 0 */
    FA_REC_HAS_PAYLOAD = 1u << 1, /* payload_offset/payload_len point at L4 payload bytes */
    FA_REC_FLOW_START = 1u << 2,  /* counts as the start of a flow (pmacct's `flows`) */
    FA_REC_DIR_REPLY = 1u << 3,   /* classifier: packet goes from responder to initiator */
    FA_REC_DROP = 1u << 4         /* set by a pipeline stage: this pipeline does not account it */
};

typedef struct fa_record {
    uint8_t src_ip[16];
    uint8_t dst_ip[16];
    uint8_t src_net[16];     /* filled by the aggregator from src_ip and src_mask on output rows */
    uint8_t dst_net[16];
    uint8_t peer_src_ip[16]; /* exporter or sFlow agent address; zero for pcap */
    uint8_t nexthop[16];
    uint8_t src_mac[6];
    uint8_t dst_mac[6];
    uint16_t vlan;
    uint16_t src_port;
    uint16_t dst_port;
    uint16_t ether_type;
    uint8_t proto;
    uint8_t tos;
    uint8_t tcp_flags;
    uint8_t src_mask;
    uint8_t dst_mask;
    uint8_t ip_version; /* 0 (not IP), 4 or 6 */
    uint8_t flags;      /* fa_record_flags */
    uint8_t reserved0;
    uint32_t src_as;
    uint32_t dst_as;
    uint32_t peer_src_as;
    uint32_t peer_dst_as;
    uint32_t in_iface;
    uint32_t out_iface;
    uint32_t sampling_rate; /* 0 unknown, 1 renormalized or unsampled */
    uint32_t class_id;      /* interned class name, 0 = unknown */
    uint32_t label_id;      /* interned label, 0 = none */
    uint32_t payload_offset; /* into fa_batch.payload */
    uint32_t payload_len;
    uint32_t engine_id;     /* NetFlow engine id / source id / observation domain / sFlow sub-agent */
    uint64_t tag;
    uint64_t tag2;
    uint64_t packets;
    uint64_t bytes;
    uint64_t flows;
    uint64_t time_start_us;
    uint64_t time_end_us;   /* the time a record is binned by */
} fa_record;

/* A batch of records. Inputs fill batches they got from host->batch_acquire() and hand them
 * back with host->batch_submit(); after submit the host owns it and shares it read-only
 * with every pipeline. */
typedef struct fa_batch {
    fa_record* records;
    uint32_t count;
    uint32_t capacity;
    uint8_t* payload;          /* first payload bytes of records, for classifiers */
    uint32_t payload_used;
    uint32_t payload_capacity;
    uint32_t input_index;      /* set by the host */
    uint32_t reserved0;
} fa_batch;

/* ---- raw datagrams (minor 1) -------------------------------------------- */
/* One datagram as a collector input received it (NetFlow/IPFIX/sFlow payload of a UDP packet,
 * live or from a savefile), for outputs that forward datagrams as they are (tee). */
typedef struct fa_datagram {
    const uint8_t* data;       /* the UDP payload; valid during the call that hands it over */
    uint32_t length;           /* bytes at data */
    uint8_t ip_version;        /* 4 or 6: the family of the exporter's address */
    uint8_t reserved0;
    uint16_t src_port;         /* the exporter's UDP source port */
    uint8_t exporter[16];      /* the exporter's address (source of the UDP packet), v4-mapped */
    uint64_t arrival_us;       /* wall time of arrival (a savefile's packet time on replay) */
    uint32_t input_index;      /* set by the host: which input received it */
    uint32_t reserved1;
    uint64_t tag;              /* set by the host's pipeline stage, if any; else 0 */
    uint64_t tag2;
} fa_datagram;

/* ---- aggregated rows --------------------------------------------------- */
/* Primitive identifiers: bit positions in fa_row_batch.primitives. */
typedef enum fa_primitive {
    FA_P_SRC_MAC = 0,
    FA_P_DST_MAC,
    FA_P_VLAN,
    FA_P_SRC_HOST,
    FA_P_DST_HOST,
    FA_P_SRC_NET,
    FA_P_DST_NET,
    FA_P_SRC_MASK,
    FA_P_DST_MASK,
    FA_P_SRC_AS,
    FA_P_DST_AS,
    FA_P_SRC_PORT,
    FA_P_DST_PORT,
    FA_P_TOS,
    FA_P_PROTO,
    FA_P_TCPFLAGS,
    FA_P_TAG,
    FA_P_TAG2,
    FA_P_LABEL,
    FA_P_CLASS,
    FA_P_IN_IFACE,
    FA_P_OUT_IFACE,
    FA_P_PEER_SRC_IP,
    FA_P_PEER_SRC_AS,
    FA_P_PEER_DST_AS,
    FA_P_PEER_DST_IP,     /* next hop */
    FA_P_SAMPLING_RATE,
    FA_P_ETYPE,
    FA_P_SUM_HOST,        /* sum_* rows carry the value in the src_* field */
    FA_P_SUM_NET,
    FA_P_SUM_AS,
    FA_P_SUM_PORT,
    FA_P_SUM_MAC,
    FA_P_FLOWS,           /* not a key: `flows` was listed, so outputs show the flows counter */
    FA_P_COUNT            /* number of primitives */
} fa_primitive;

/* One aggregated row: the key primitives in `rec` (the others zero), the counters
 * rec.packets/bytes/flows accumulated over the row's lifetime in the aggregator. */
typedef struct fa_row {
    fa_record rec;
    uint64_t stamp_inserted_us; /* start of the time bin; 0 without history */
    uint64_t stamp_updated_us;  /* when the aggregator last updated or emitted the row */
} fa_row;

typedef struct fa_row_batch {
    const fa_row* rows;
    uint32_t count;
    uint32_t history_s;     /* bin length in seconds, 0 = no history */
    uint64_t primitives;    /* bitset of fa_primitive the rows are keyed on */
} fa_row_batch;

/* ---- configuration keys a module declares ------------------------------ */
typedef enum fa_key_type {
    FA_KEY_STRING = 0,
    FA_KEY_INT,
    FA_KEY_BOOL,
    FA_KEY_PATH,
    FA_KEY_DURATION, /* seconds, or N[s|m|h|d|w|M] */
    FA_KEY_LIST      /* comma-separated */
} fa_key_type;

typedef struct fa_config_key {
    const char* name;          /* lower case, pmacct spelling */
    fa_key_type type;
    const char* default_value; /* NULL: no default */
    const char* help;
} fa_config_key;

/* ---- services the host gives a module instance ------------------------- */
typedef enum fa_log_level { FA_LOG_DEBUG = 0, FA_LOG_INFO, FA_LOG_WARN, FA_LOG_ERROR } fa_log_level;

typedef struct fa_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    void* ctx;                 /* pass back to every call */
    const char* instance_name; /* pipeline or input instance name, e.g. "a" */

    /* Any thread. The host adds time, level and [instance/module]. */
    void (*log)(void* ctx, fa_log_level level, const char* message);
    /* Any thread, during create() or later. The effective value of `key` for this instance
     * (the instance's own setting, else the global one, else NULL). Valid while the module lives. */
    const char* (*config_get)(void* ctx, const char* key);
    /* Any thread (it takes a lock: register once, keep the pointer). A counter slot named `name`
     * (e.g. "rx_datagrams"); `labels` may be NULL or
     * "exporter=10.0.0.1". Increment with relaxed atomics; valid while the module lives. */
    uint64_t* (*counter)(void* ctx, const char* name, const char* labels);
    /* Any thread. Interning of class and label names: same string, same id, never 0. */
    uint32_t (*intern)(void* ctx, const char* s, size_t len);
    /* Any thread. The name of an interned id; "" for 0 or an unknown id. */
    const char* (*name_of)(void* ctx, uint32_t id);
    /* Any thread: monotonic and wall clocks, microseconds. */
    uint64_t (*monotonic_us)(void* ctx);
    uint64_t (*wall_us)(void* ctx);

    /* Input modules only (NULL otherwise), on the input's thread. */
    fa_batch* (*batch_acquire)(void* ctx);
    /* Hands the batch to the host. Returns the number of records the host accepted for every
     * pipeline (always count when backpressure is on). */
    uint32_t (*batch_submit)(void* ctx, fa_batch* batch);
    /* Non-zero: batch_submit waits for room instead of dropping (savefile replay). */
    void (*set_backpressure)(void* ctx, int on);
    /* Non-zero once the host asked the input to stop. */
    int (*stop_requested)(void* ctx);

    /* A JSON object of every counter the host keeps; valid until the next call on this
     * thread. For modules that answer stats queries (memory). */
    const char* (*stats_json)(void* ctx);

    /* ---- minor 1: check struct_size before use ---- */
    /* Input modules only (NULL otherwise). Non-zero when some pipeline takes raw datagrams;
     * the answer does not change once inputs run, so ask once (after create) and skip
     * datagram_submit otherwise: nobody pays for copies no one reads. */
    int (*datagrams_wanted)(void* ctx);
    /* Input modules only, on the input's threads (several receive threads of one input may
     * call it at once). The host copies the datagram (the caller keeps ownership of `d` and
     * its data) into the bounded queue of every pipeline that takes datagrams; a full queue
     * counts a drop for that pipeline, or waits for room while backpressure is on. The host
     * fills d->input_index itself. */
    void (*datagram_submit)(void* ctx, const fa_datagram* d);
} fa_host_api;

/* ---- kind-specific operations ----------------------------------------- */
typedef enum fa_kind {
    FA_KIND_INPUT = 1,
    FA_KIND_CLASSIFIER = 2,
    FA_KIND_AGGREGATOR = 3,
    FA_KIND_OUTPUT = 4
} fa_kind;

typedef struct fa_input_ops {
    uint32_t struct_size;
    /* On the input's own thread. Reads, decodes, submits batches until the source ends
     * (FA_EOF), stop is requested (FA_OK) or a fatal error (FA_ERROR). */
    fa_status (*run)(void* instance);
    /* Any thread: wake run() so that it returns soon. */
    void (*request_stop)(void* instance);
    /* Signal thread (SIGUSR2 or maps_refresh): reload maps; may be NULL. */
    fa_status (*reload)(void* instance);
} fa_input_ops;

typedef struct fa_row_sink {
    void* ctx;
    fa_status (*write)(void* ctx, const fa_row_batch* rows);
} fa_row_sink;

typedef struct fa_aggregator_ops {
    uint32_t struct_size;
    /* Pipeline thread. Adds records. Returns non-zero when the aggregator is full and wants an
     * immediate purge (the host then calls purge with force set). */
    int (*ingest)(void* instance, const fa_record* records, uint32_t count);
    /* Pipeline thread, called often (every 100 ms or so). Emits through `sink` the rows that
     * are due at `now_mono_us` and forgets them; `force` emits everything (shutdown). */
    fa_status (*purge)(void* instance, uint64_t now_mono_us, int force, const fa_row_sink* sink);
    /* Entries held now. */
    uint64_t (*size)(void* instance);
} fa_aggregator_ops;

typedef struct fa_output_ops {
    uint32_t struct_size;
    /* Pipeline thread. Rows are valid during the call only. */
    fa_status (*write)(void* instance, const fa_row_batch* rows);
    /* Pipeline thread, after each purge and periodically; may be NULL. */
    fa_status (*tick)(void* instance, uint64_t now_mono_us);
    /* Pipeline thread, at shutdown after the last write: make everything durable. May be NULL. */
    fa_status (*flush)(void* instance);
    /* Refresh interval the aggregator uses for this output when no *_refresh_time is set
     * (seconds); 0 = the aggregator default. */
    uint32_t default_refresh_s;
    /* The aggregator module this output wants when the `aggregator` key is unset; NULL = "hash".
     * Exporters that need every record (nfprobe, sfprobe) name "passthrough". */
    const char* default_aggregator;

    /* ---- minor 1: check struct_size before use ---- */
    /* Pipeline thread. Raw datagrams from the inputs, in arrival order per input; `d[i]` and
     * their data are valid during the call only. FA_ERROR counts a write error and the host
     * goes on with the next datagrams. May be NULL. An output with write == NULL and
     * datagrams != NULL is a datagram-only output: its pipeline gets no aggregator, no
     * records and no stages. This host refuses an output that sets both write and datagrams. */
    fa_status (*datagrams)(void* instance, const fa_datagram* const* d, uint32_t n);
    /* Pipeline thread, on SIGUSR2 or every maps_refresh seconds: reload the output's own maps.
     * On failure keep the previous maps, log file and line, return FA_ERROR. May be NULL. */
    fa_status (*reload)(void* instance);
} fa_output_ops;

/* A pipeline stage: runs on the pipeline's private copy of each batch, before the aggregator,
 * in the order the host lists them (networks, pre-tagging and filters, classification). */
typedef struct fa_classifier_ops {
    uint32_t struct_size;
    /* Pipeline thread. May set class_id (through host->intern), label_id, tag, tag2, ASes,
     * masks, or FA_REC_DROP on the pipeline's private copy of the records. `payload` is the
     * batch's payload arena. */
    void (*process)(void* instance, fa_record* records, uint32_t count, const uint8_t* payload);
    /* Pipeline thread, on SIGUSR2 or every maps_refresh seconds: reload maps. On failure the
     * stage keeps its previous maps and returns FA_ERROR after logging file and line. */
    fa_status (*reload)(void* instance);
} fa_classifier_ops;

/* ---- the descriptor ---------------------------------------------------- */
typedef struct fa_module_descriptor {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    fa_kind kind;
    const char* name;        /* as configuration writes it: "pcap", "print", "pgsql" */
    const char* version;     /* the module's own version, "1.0.0" */
    const char* description; /* one line */
    const fa_config_key* keys;
    uint32_t key_count;
    /* Setup, on the host's main thread. On failure return FA_ERROR and fill `error`. */
    fa_status (*create)(const fa_host_api* host, void** instance, fa_error* error);
    void (*destroy)(void* instance);
    /* One of fa_input_ops, fa_classifier_ops, fa_aggregator_ops, fa_output_ops per `kind`. */
    const void* ops;
} fa_module_descriptor;

typedef const fa_module_descriptor* (*fa_module_entry)(void);

#ifdef __cplusplus
}
#endif

#endif /* FLOWACCT_ABI_H */
