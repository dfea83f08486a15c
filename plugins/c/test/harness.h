/* harness.h: runs a C plugin natively through its real exports (no component, no host):
 * builds input columns the way the canonical ABI would hand them over, checks and reads
 * the output columns, and stubs the host functions (log lines and counter adds are
 * recorded for the tests to look at). Used by plugins/c/test/test_*.c (`make
 * plugins-c-test`) and by the unit tests of `sluice plugin new --lang c` (`make test`). */
#ifndef SLUICE_TEST_HARNESS_H
#define SLUICE_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "log_transform.h"

/* One input record: `labels` and `meta` as "k=v,k2=v2" ("" for none). */
typedef struct rec_in {
    const char *line;
    const char *labels;
    const char *meta;
} rec_in;

/* Columns of `n` records (timestamps 1..n), every buffer malloc'd: the export frees them. */
log_transform_log_batch_t make_batch(const rec_in *records, size_t n);
/* Checks every rule of `log-batch`, plus sorted, distinct label sets; aborts the test if
 * one breaks. Returns the record count. */
size_t check_batch(const log_transform_log_batch_t *b);
/* Record `i` of an output batch as text: the line, "k=v,..." labels, "k=v,..." metadata
 * (a static buffer each, valid until the next call of the same function). */
const char *out_line(const log_transform_log_batch_t *b, size_t i);
const char *out_labels(const log_transform_log_batch_t *b, size_t i);
const char *out_meta(const log_transform_log_batch_t *b, size_t i);
void free_batch(log_transform_log_batch_t *b);

/* Calls the init export with `config` JSON; the error message (static) or NULL. */
const char *run_init(const char *config);
/* Calls the process export; the error message or NULL, the output in *out. */
const char *run_process(const rec_in *records, size_t n, log_transform_log_batch_t *out);

/* Metrics the stub host declares ("name" -> id = index + 1); NULL-terminated. */
extern const char *declared_metrics[];
/* Every counter add so far, as "metric{label,...} value\n" lines; every log line. */
extern char counter_log[4096];
extern char host_log[4096];

/* Test bookkeeping: CHECK fails the current test and goes on; the summary line follows
 * the "N passed, N failed" shape. */
extern int checks_failed;
#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);        \
            checks_failed++;                                                                \
        }                                                                                   \
    } while (0)
#define CHECK_STR(got, want)                                                                \
    do {                                                                                    \
        const char *g_ = (got), *w_ = (want);                                               \
        if (!g_ || strcmp(g_, w_) != 0) {                                                   \
            fprintf(stderr, "%s:%d: %s\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, #got, \
                    g_ ? g_ : "(null)", w_);                                                \
            checks_failed++;                                                                \
        }                                                                                   \
    } while (0)
/* Runs each test function and prints "NAME: N passed, N failed"; the exit status. */
typedef struct test_case {
    const char *name;
    void (*run)(void);
} test_case;
int run_tests(const char *suite, const test_case *tests, size_t n);

#endif
