/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Modules that fail on purpose, one per failure the loader must refuse cleanly. Each is built
 * several times with a different BAD_* definition. Tests only. */
#include <stddef.h>
#include <flowacct/abi.h>

static fa_status create_fail(const fa_host_api* host, void** inst, fa_error* err) {
    (void)host; (void)inst;
    const char* m = "cannot open the frobnicator";
    size_t i = 0;
    for (; m[i] && i < sizeof err->message - 1; ++i) err->message[i] = m[i];
    err->message[i] = 0;
    err->key[0] = 0;
    return FA_ERROR;
}
static fa_status create_ok(const fa_host_api* host, void** inst, fa_error* err) {
    (void)host; (void)err;
    static int dummy;
    *inst = &dummy;
    return FA_OK;
}
static void destroy(void* inst) { (void)inst; }
static fa_status write_rows(void* inst, const fa_row_batch* rows) { (void)inst; (void)rows; return FA_OK; }
static fa_status datagrams(void* inst, const fa_datagram* const* d, uint32_t n) { (void)inst; (void)d; (void)n; return FA_OK; }
#if defined(OLD_MINOR)
/* Built against ABI minor 0: struct_size ends before the minor-1 fields; what lies beyond (here
 * non-null on purpose) is not the module's and must not be read. */
static const fa_output_ops ops = {offsetof(fa_output_ops, datagrams), write_rows, NULL, NULL, 0, NULL, datagrams, NULL};
#elif defined(BAD_BOTH)
static const fa_output_ops ops = {sizeof(fa_output_ops), write_rows, NULL, NULL, 0, NULL, datagrams, NULL};
#else
static const fa_output_ops ops = {sizeof(fa_output_ops), write_rows, NULL, NULL, 0, NULL, NULL, NULL};
#endif

#if defined(BAD_ABI)
#define D_MAJOR 2
#else
#define D_MAJOR FA_ABI_MAJOR
#endif
#if defined(BAD_KIND)
#define D_KIND FA_KIND_INPUT
#else
#define D_KIND FA_KIND_OUTPUT
#endif
#if defined(BAD_INIT)
#define D_CREATE create_fail
#else
#define D_CREATE create_ok
#endif

#if defined(OLD_MINOR)
#define D_MINOR 0
#else
#define D_MINOR FA_ABI_MINOR
#endif

static const fa_module_descriptor descriptor = {
    sizeof(fa_module_descriptor), D_MAJOR, D_MINOR, D_KIND, MODULE_NAME, "0.0.1", "failure test module",
    NULL, 0, D_CREATE, destroy, &ops};

#if !defined(BAD_SYMBOL)
__attribute__((visibility("default"))) const fa_module_descriptor* flowacct_module_v1(void) { return &descriptor; }
#else
__attribute__((visibility("default"))) const fa_module_descriptor* some_other_symbol(void) { return &descriptor; }
#endif
