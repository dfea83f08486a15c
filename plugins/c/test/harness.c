/* harness.c: see harness.h. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

int checks_failed;
char counter_log[4096];
char host_log[4096];

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

/* What the canonical ABI hands a guest for a list: an allocation, or for an empty list
 * no allocation at all, just an aligned pointer (the guest must not free it). */
static void *abi_alloc(size_t n, size_t align) { return n ? xmalloc(n) : (void *)align; }

static log_transform_string_t dup_n(const char *s, size_t n) {
    log_transform_string_t out = {(uint8_t *)1, n};
    if (n) {
        out.ptr = xmalloc(n);
        memcpy(out.ptr, s, n);
    }
    return out;
}

/* Splits "k=v,k2=v2" into pairs; returns the count (at most `max`). */
static size_t pairs(const char *text, char keys[][64], char values[][64], size_t max) {
    size_t n = 0;
    const char *p = text;
    while (p && *p && n < max) {
        const char *eq = strchr(p, '='), *comma = strchr(p, ',');
        if (!comma) comma = p + strlen(p);
        snprintf(keys[n], 64, "%.*s", (int)(eq - p), p);
        snprintf(values[n], 64, "%.*s", (int)(comma - eq - 1), eq + 1);
        n++;
        p = *comma ? comma + 1 : comma;
    }
    return n;
}

log_transform_log_batch_t make_batch(const rec_in *records, size_t n) {
    log_transform_log_batch_t b = {0};
    size_t line_bytes = 0, meta_bytes = 0, n_pairs = 0;
    char k[16][64], v[16][64];
    for (size_t i = 0; i < n; i++) {
        line_bytes += strlen(records[i].line);
        size_t m = pairs(records[i].meta, k, v, 16);
        n_pairs += m;
        for (size_t p = 0; p < m; p++) meta_bytes += strlen(k[p]) + strlen(v[p]);
    }
    b.lines = (log_transform_string_t){abi_alloc(line_bytes, 1), line_bytes};
    b.line_ends = (log_transform_list_u32_t){abi_alloc(n * 4, 4), n};
    b.timestamps = (log_transform_list_s64_t){abi_alloc(n * 8, 8), n};
    b.label_set_of = (log_transform_list_u32_t){abi_alloc(n * 4, 4), n};
    b.metadata = (log_transform_string_t){abi_alloc(meta_bytes, 1), meta_bytes};
    b.metadata_ends = (log_transform_list_u32_t){abi_alloc(n_pairs * 8, 4), n_pairs * 2};
    b.record_metadata_ends = (log_transform_list_u32_t){abi_alloc(n * 4, 4), n};
    /* Allocated for the worst case of one set per record; only the sets used count. */
    b.label_sets.ptr = n ? xmalloc(n * sizeof(*b.label_sets.ptr)) : (void *)4;
    const char *set_text[64];
    size_t line_at = 0, meta_at = 0, pair = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(records[i].line);
        memcpy(b.lines.ptr + line_at, records[i].line, len);
        line_at += len;
        b.line_ends.ptr[i] = (uint32_t)line_at;
        b.timestamps.ptr[i] = (int64_t)i + 1;
        size_t s = 0;
        while (s < b.label_sets.len && strcmp(set_text[s], records[i].labels) != 0) s++;
        if (s == b.label_sets.len) {
            set_text[s] = records[i].labels;
            size_t m = pairs(records[i].labels, k, v, 16);
            sluice_plugin_types_list_label_t *set = &b.label_sets.ptr[s];
            set->len = m;
            set->ptr = abi_alloc(m * sizeof(*set->ptr), 4);
            for (size_t l = 0; l < m; l++) {
                set->ptr[l].f0 = dup_n(k[l], strlen(k[l]));
                set->ptr[l].f1 = dup_n(v[l], strlen(v[l]));
            }
            b.label_sets.len++;
        }
        b.label_set_of.ptr[i] = (uint32_t)s;
        size_t m = pairs(records[i].meta, k, v, 16);
        for (size_t p = 0; p < m; p++, pair++) {
            memcpy(b.metadata.ptr + meta_at, k[p], strlen(k[p]));
            meta_at += strlen(k[p]);
            b.metadata_ends.ptr[2 * pair] = (uint32_t)meta_at;
            memcpy(b.metadata.ptr + meta_at, v[p], strlen(v[p]));
            meta_at += strlen(v[p]);
            b.metadata_ends.ptr[2 * pair + 1] = (uint32_t)meta_at;
        }
        b.record_metadata_ends.ptr[i] = (uint32_t)pair;
    }
    return b;
}

static int cmp_str(const log_transform_string_t *a, const log_transform_string_t *b) {
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->ptr, b->ptr, n) : 0;
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static bool sets_equal(const sluice_plugin_types_list_label_t *a,
                       const sluice_plugin_types_list_label_t *b) {
    if (a->len != b->len) return false;
    for (size_t l = 0; l < a->len; l++) {
        if (cmp_str(&a->ptr[l].f0, &b->ptr[l].f0) || cmp_str(&a->ptr[l].f1, &b->ptr[l].f1))
            return false;
    }
    return true;
}

#define REQUIRE(cond)                                                                       \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "invalid output batch: %s\n", #cond);                            \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

size_t check_batch(const log_transform_log_batch_t *b) {
    size_t n = b->line_ends.len;
    REQUIRE(b->timestamps.len == n && b->label_set_of.len == n && b->record_metadata_ends.len == n);
    REQUIRE(b->metadata_ends.len % 2 == 0);
    uint32_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        REQUIRE(b->line_ends.ptr[i] >= prev && b->line_ends.ptr[i] <= b->lines.len);
        prev = b->line_ends.ptr[i];
        REQUIRE(b->label_set_of.ptr[i] < b->label_sets.len);
    }
    REQUIRE(prev == b->lines.len);
    prev = 0;
    for (size_t i = 0; i < b->metadata_ends.len; i++) {
        REQUIRE(b->metadata_ends.ptr[i] >= prev && b->metadata_ends.ptr[i] <= b->metadata.len);
        prev = b->metadata_ends.ptr[i];
    }
    prev = 0;
    for (size_t i = 0; i < n; i++) {
        REQUIRE(b->record_metadata_ends.ptr[i] >= prev &&
                b->record_metadata_ends.ptr[i] <= b->metadata_ends.len / 2);
        prev = b->record_metadata_ends.ptr[i];
    }
    for (size_t s = 0; s < b->label_sets.len; s++) {
        const sluice_plugin_types_list_label_t *set = &b->label_sets.ptr[s];
        for (size_t l = 1; l < set->len; l++) REQUIRE(cmp_str(&set->ptr[l - 1].f0, &set->ptr[l].f0) < 0);
        for (size_t t = 0; t < s; t++) REQUIRE(!sets_equal(set, &b->label_sets.ptr[t]));
    }
    return n;
}

static char *append(char *buf, size_t cap, size_t *at, const uint8_t *p, size_t n) {
    if (*at + n + 1 < cap) {
        memcpy(buf + *at, p, n);
        *at += n;
    }
    buf[*at] = 0;
    return buf;
}

const char *out_line(const log_transform_log_batch_t *b, size_t i) {
    static char buf[4096];
    size_t at = 0, start = i ? b->line_ends.ptr[i - 1] : 0;
    return append(buf, sizeof buf, &at, b->lines.ptr + start, b->line_ends.ptr[i] - start);
}

const char *out_labels(const log_transform_log_batch_t *b, size_t i) {
    static char buf[4096];
    size_t at = 0;
    buf[0] = 0;
    const sluice_plugin_types_list_label_t *set = &b->label_sets.ptr[b->label_set_of.ptr[i]];
    for (size_t l = 0; l < set->len; l++) {
        if (l) append(buf, sizeof buf, &at, (const uint8_t *)",", 1);
        append(buf, sizeof buf, &at, set->ptr[l].f0.ptr, set->ptr[l].f0.len);
        append(buf, sizeof buf, &at, (const uint8_t *)"=", 1);
        append(buf, sizeof buf, &at, set->ptr[l].f1.ptr, set->ptr[l].f1.len);
    }
    return buf;
}

const char *out_meta(const log_transform_log_batch_t *b, size_t i) {
    static char buf[4096];
    size_t at = 0;
    buf[0] = 0;
    uint32_t first = i ? b->record_metadata_ends.ptr[i - 1] : 0;
    for (uint32_t p = first; p < b->record_metadata_ends.ptr[i]; p++) {
        uint32_t ks = p ? b->metadata_ends.ptr[2 * p - 1] : 0, ke = b->metadata_ends.ptr[2 * p],
                 ve = b->metadata_ends.ptr[2 * p + 1];
        if (p > first) append(buf, sizeof buf, &at, (const uint8_t *)",", 1);
        append(buf, sizeof buf, &at, b->metadata.ptr + ks, ke - ks);
        append(buf, sizeof buf, &at, (const uint8_t *)"=", 1);
        append(buf, sizeof buf, &at, b->metadata.ptr + ke, ve - ke);
    }
    return buf;
}

/* As the generated post-return function does: an empty list may be a dangling pointer. */
static void free_list(void *ptr, size_t len) {
    if (len) free(ptr);
}

void free_batch(log_transform_log_batch_t *b) {
    free_list(b->lines.ptr, b->lines.len);
    free_list(b->line_ends.ptr, b->line_ends.len);
    free_list(b->timestamps.ptr, b->timestamps.len);
    for (size_t s = 0; s < b->label_sets.len; s++) {
        for (size_t l = 0; l < b->label_sets.ptr[s].len; l++) {
            free_list(b->label_sets.ptr[s].ptr[l].f0.ptr, b->label_sets.ptr[s].ptr[l].f0.len);
            free_list(b->label_sets.ptr[s].ptr[l].f1.ptr, b->label_sets.ptr[s].ptr[l].f1.len);
        }
        free_list(b->label_sets.ptr[s].ptr, b->label_sets.ptr[s].len);
    }
    free_list(b->label_sets.ptr, b->label_sets.len);
    free_list(b->label_set_of.ptr, b->label_set_of.len);
    free_list(b->metadata.ptr, b->metadata.len);
    free_list(b->metadata_ends.ptr, b->metadata_ends.len);
    free_list(b->record_metadata_ends.ptr, b->record_metadata_ends.len);
}

static const char *take_error(log_transform_string_t *err) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%.*s", (int)err->len, (const char *)err->ptr);
    free(err->ptr);
    return buf;
}

const char *run_init(const char *config) {
    log_transform_string_t c = dup_n(config, strlen(config)), err;
    return exports_log_transform_init(&c, &err) ? NULL : take_error(&err);
}

const char *run_process(const rec_in *records, size_t n, log_transform_log_batch_t *out) {
    log_transform_log_batch_t in = make_batch(records, n), result;
    log_transform_string_t err;
    *out = (log_transform_log_batch_t){0};
    if (!exports_log_transform_process(&in, &result, &err)) return take_error(&err);
    check_batch(&result);
    *out = result;
    return NULL;
}

/* The host, stubbed -------------------------------------------------------------------- */

void sluice_plugin_host_log(sluice_plugin_host_level_t level, log_transform_string_t *message) {
    size_t at = strlen(host_log);
    snprintf(host_log + at, sizeof host_log - at, "%d %.*s\n", (int)level, (int)message->len,
             (const char *)message->ptr);
}

bool sluice_plugin_host_metric_id(log_transform_string_t *name, uint32_t *ret) {
    for (uint32_t i = 0; declared_metrics[i]; i++) {
        if (strlen(declared_metrics[i]) == name->len &&
            memcmp(declared_metrics[i], name->ptr, name->len) == 0) {
            *ret = i + 1;
            return true;
        }
    }
    return false;
}

static void record_metric(uint32_t metric, log_transform_list_string_t *labels, double value) {
    size_t at = strlen(counter_log);
    at += (size_t)snprintf(counter_log + at, sizeof counter_log - at, "%s{",
                           declared_metrics[metric - 1]);
    for (size_t i = 0; i < labels->len; i++) {
        at += (size_t)snprintf(counter_log + at, sizeof counter_log - at, "%s%.*s", i ? "," : "",
                               (int)labels->ptr[i].len, (const char *)labels->ptr[i].ptr);
    }
    snprintf(counter_log + at, sizeof counter_log - at, "} %g\n", value);
}

void sluice_plugin_host_counter_add(uint32_t metric, log_transform_list_string_t *labels,
                                    double value, log_transform_string_t *trace_id) {
    (void)trace_id;
    record_metric(metric, labels, value);
}

void sluice_plugin_host_histogram_observe(uint32_t metric, log_transform_list_string_t *labels,
                                          double value, log_transform_string_t *trace_id) {
    (void)trace_id;
    record_metric(metric, labels, value);
}

int run_tests(const char *suite, const test_case *tests, size_t n) {
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        int before = checks_failed;
        counter_log[0] = host_log[0] = 0;
        tests[i].run();
        if (checks_failed == before) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAILED: %s %s\n", suite, tests[i].name);
        }
    }
    printf("%s: %zu passed, %zu failed\n", suite, passed, failed);
    return failed ? 1 : 0;
}
