/* sluice_records.c: the record view of sluice_records.h over wit-bindgen's C bindings of
 * the `log-transform` world (log_transform.h), and the two exports the world asks for.
 *
 * Ownership follows wit-bindgen's C conventions: the export functions own their arguments
 * (the input batch is freed here once read) and hand over results that the generated
 * post-return functions free (every buffer and every label string is its own malloc).
 * Everything a plugin sees during a batch lives in one arena freed when the batch ends.
 */
#include "sluice_records.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_transform.h"

/* Allocation ------------------------------------------------------------------------- */

/* Out of memory in a plugin is a trap: the host fails the batch and replaces the instance. */
static void *xrealloc(void *ptr, size_t size) {
    void *p = realloc(ptr, size ? size : 1);
    if (!p) abort();
    return p;
}

static void *xmalloc(size_t size) { return xrealloc(NULL, size); }

typedef struct chunk {
    struct chunk *next;
    size_t used;
    size_t cap;
    _Alignas(8) char data[];
} chunk;

/* A bump allocator freed all at once. */
typedef struct arena {
    chunk *head;
} arena;

static void *arena_alloc(arena *a, size_t size) {
    size = (size + 7) & ~(size_t)7;
    chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 32768 ? size : 32768;
        c = xmalloc(sizeof(chunk) + cap);
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

static void arena_free(arena *a) {
    chunk *c = a->head;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

static sr_str arena_str(arena *a, sr_str s) {
    if (s.len == 0) return (sr_str){"", 0};
    char *p = arena_alloc(a, s.len);
    memcpy(p, s.ptr, s.len);
    return (sr_str){p, s.len};
}

/* What the current batch allocates: freed when it ends. */
static arena batch_arena;

/* Strings and buffers ---------------------------------------------------------------- */

sr_str sr_cstr(const char *s) { return (sr_str){s, strlen(s)}; }

bool sr_str_eq(sr_str a, sr_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int str_cmp(sr_str a, sr_str b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

void sr_buf_push(sr_buf *b, const char *bytes, size_t len) {
    if (b->cap - b->len < len) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap - b->len < len) cap *= 2;
        b->ptr = xrealloc(b->ptr, cap);
        b->cap = cap;
    }
    if (len) memcpy(b->ptr + b->len, bytes, len);
    b->len += len;
}

void sr_buf_push_str(sr_buf *b, sr_str s) { sr_buf_push(b, s.ptr, s.len); }

sr_str sr_buf_str(const sr_buf *b) { return (sr_str){b->ptr ? b->ptr : "", b->len}; }

void sr_buf_free(sr_buf *b) {
    free(b->ptr);
    *b = (sr_buf){0};
}

/* Errors ----------------------------------------------------------------------------- */

static char error_message[2048];

static void verror(const char *format, va_list args) {
    vsnprintf(error_message, sizeof error_message, format, args);
}

bool sr_error(const char *format, ...) {
    va_list args;
    va_start(args, format);
    verror(format, args);
    va_end(args);
    return false;
}

const char *sr_last_error(void) { return error_message; }

/* The result's error string (freed by the post-return function). */
static void error_result(log_transform_string_t *err, const char *fallback) {
    const char *m = error_message[0] ? error_message : fallback;
    size_t len = strlen(m);
    err->ptr = xmalloc(len);
    memcpy(err->ptr, m, len);
    err->len = len;
}

/* Labels ----------------------------------------------------------------------------- */

struct sr_labels {
    sr_label *items;
    size_t len;
    size_t cap;
};

static const sr_labels empty_labels = {0};

size_t sr_labels_len(const sr_labels *labels) { return labels->len; }

sr_label sr_labels_at(const sr_labels *labels, size_t i) { return labels->items[i]; }

/* Index of `name`, or the index it would be inserted at (as ~index). */
static long labels_find(const sr_labels *labels, sr_str name) {
    size_t lo = 0, hi = labels->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(labels->items[mid].name, name);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return ~(long)lo;
}

bool sr_labels_get(const sr_labels *labels, sr_str name, sr_str *value) {
    long i = labels_find(labels, name);
    if (i < 0) return false;
    if (value) *value = labels->items[i].value;
    return true;
}

void sr_labels_set(sr_labels *labels, sr_str name, sr_str value) {
    long i = labels_find(labels, name);
    if (i >= 0) {
        labels->items[i].value = arena_str(&batch_arena, value);
        return;
    }
    size_t at = (size_t)~i;
    if (labels->len == labels->cap) {
        size_t cap = labels->cap ? labels->cap * 2 : 4;
        sr_label *items = arena_alloc(&batch_arena, cap * sizeof(sr_label));
        if (labels->len) memcpy(items, labels->items, labels->len * sizeof(sr_label));
        labels->items = items;
        labels->cap = cap;
    }
    memmove(labels->items + at + 1, labels->items + at, (labels->len - at) * sizeof(sr_label));
    labels->items[at] = (sr_label){arena_str(&batch_arena, name), arena_str(&batch_arena, value)};
    labels->len++;
}

void sr_labels_remove(sr_labels *labels, sr_str name) {
    long i = labels_find(labels, name);
    if (i < 0) return;
    memmove(labels->items + i, labels->items + i + 1,
            (labels->len - (size_t)i - 1) * sizeof(sr_label));
    labels->len--;
}

static sr_labels *labels_clone(const sr_labels *labels) {
    sr_labels *copy = arena_alloc(&batch_arena, sizeof(sr_labels));
    copy->len = labels->len;
    copy->cap = labels->len + 2;
    copy->items = arena_alloc(&batch_arena, copy->cap * sizeof(sr_label));
    if (labels->len) memcpy(copy->items, labels->items, labels->len * sizeof(sr_label));
    return copy;
}

static bool labels_eq(const sr_labels *a, const sr_labels *b) {
    if (a->len != b->len) return false;
    for (size_t i = 0; i < a->len; i++) {
        if (!sr_str_eq(a->items[i].name, b->items[i].name) ||
            !sr_str_eq(a->items[i].value, b->items[i].value))
            return false;
    }
    return true;
}

static uint32_t hash_bytes(uint32_t h, sr_str s) {
    for (size_t i = 0; i < s.len; i++) h = (h ^ (uint8_t)s.ptr[i]) * 16777619u;
    return (h ^ 0xff) * 16777619u; /* a separator, so "ab","c" != "a","bc" */
}

static uint32_t labels_hash(const sr_labels *labels) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < labels->len; i++) {
        h = hash_bytes(h, labels->items[i].name);
        h = hash_bytes(h, labels->items[i].value);
    }
    return h;
}

/* Interns label sets by content: `keys[i]` the distinct sets, `values[i]` what goes with
 * each (an output index, or a changed set). Open addressing over indices + 1. */
typedef struct set_table {
    uint32_t *slots;
    size_t mask;
    const sr_labels **keys;
    sr_labels **values;
    size_t len;
} set_table;

static void set_table_init(set_table *t, size_t expected) {
    size_t size = 16;
    while (size < expected * 2) size *= 2;
    t->slots = arena_alloc(&batch_arena, size * sizeof(uint32_t));
    memset(t->slots, 0, size * sizeof(uint32_t));
    t->mask = size - 1;
    t->keys = arena_alloc(&batch_arena, expected * sizeof(*t->keys) + 1);
    t->values = arena_alloc(&batch_arena, expected * sizeof(*t->values) + 1);
    t->len = 0;
}

/* The entry index of `labels`, added (value NULL) when new; *added tells which. At most
 * `expected` distinct sets may be added. */
static size_t set_table_intern(set_table *t, const sr_labels *labels, bool *added) {
    size_t i = labels_hash(labels) & t->mask;
    while (t->slots[i]) {
        size_t e = t->slots[i] - 1;
        if (labels_eq(t->keys[e], labels)) {
            *added = false;
            return e;
        }
        i = (i + 1) & t->mask;
    }
    size_t e = t->len++;
    t->slots[i] = (uint32_t)e + 1;
    t->keys[e] = labels;
    t->values[e] = NULL;
    *added = true;
    return e;
}

/* Records and batches ---------------------------------------------------------------- */

struct sr_record {
    sr_str line;
    int64_t timestamp;
    /* Shared with other records (an input set, or a map_label_sets result) unless
     * labels_own; in_set is the input set's index while the labels are untouched. */
    const sr_labels *labels;
    long in_set;
    bool labels_own;
    bool meta_own;
    sr_pair *meta;
    size_t meta_len;
    size_t meta_cap;
};

/* Which column groups the plugin changed: the others go back to the host as they came,
 * without a copy. Dropping or adding records changes them all. */
enum {
    CHANGED_LINES = 1,
    CHANGED_TIMESTAMPS = 2,
    CHANGED_LABELS = 4,
    CHANGED_METADATA = 8,
    CHANGED_ALL = 15,
};

struct sr_batch {
    unsigned changed;
    sr_record *records;
    size_t len;
    size_t cap;
    sr_labels *in_sets;
    size_t n_in_sets;
    sr_json **jsons;
    size_t n_jsons;
};

static sr_batch batch;

size_t sr_batch_len(const sr_batch *b) { return b->len; }

sr_record *sr_batch_record(sr_batch *b, size_t i) { return &b->records[i]; }

void sr_batch_retain(sr_batch *b, bool (*keep)(const sr_record *, void *), void *ctx) {
    size_t kept = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (keep(&b->records[i], ctx)) b->records[kept++] = b->records[i];
    }
    if (kept != b->len) b->changed = CHANGED_ALL;
    b->len = kept;
}

sr_record *sr_batch_push(sr_batch *b, sr_str line, int64_t timestamp) {
    if (b->len == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->records = xrealloc(b->records, b->cap * sizeof(sr_record));
    }
    b->changed = CHANGED_ALL;
    sr_record *r = &b->records[b->len++];
    *r = (sr_record){
        .line = arena_str(&batch_arena, line),
        .timestamp = timestamp,
        .labels = &empty_labels,
        .in_set = -1,
    };
    return r;
}

void sr_batch_map_label_sets(sr_batch *b, void (*change)(sr_labels *, void *), void *ctx) {
    b->changed |= CHANGED_LABELS;
    sr_labels **from_input = arena_alloc(&batch_arena, b->n_in_sets * sizeof(sr_labels *) + 1);
    for (size_t s = 0; s < b->n_in_sets; s++) from_input[s] = NULL;
    set_table others;
    set_table_init(&others, b->len);
    for (size_t i = 0; i < b->len; i++) {
        sr_record *r = &b->records[i];
        sr_labels **changed;
        if (r->in_set >= 0) {
            changed = &from_input[r->in_set];
        } else {
            bool added;
            size_t e = set_table_intern(&others, r->labels, &added);
            changed = &others.values[e];
        }
        if (!*changed) {
            *changed = labels_clone(r->labels);
            change(*changed, ctx);
        }
        r->labels = *changed;
        r->in_set = -1;
        r->labels_own = false;
    }
}

sr_str sr_record_line(const sr_record *r) { return r->line; }

void sr_record_set_line(sr_record *r, sr_str line) {
    batch.changed |= CHANGED_LINES;
    r->line = arena_str(&batch_arena, line);
}

int64_t sr_record_timestamp(const sr_record *r) { return r->timestamp; }

void sr_record_set_timestamp(sr_record *r, int64_t timestamp) {
    batch.changed |= CHANGED_TIMESTAMPS;
    r->timestamp = timestamp;
}

bool sr_record_label(const sr_record *r, sr_str name, sr_str *value) {
    return sr_labels_get(r->labels, name, value);
}

const sr_labels *sr_record_labels(const sr_record *r) { return r->labels; }

static sr_labels *own_labels(sr_record *r) {
    batch.changed |= CHANGED_LABELS;
    if (!r->labels_own) {
        r->labels = labels_clone(r->labels);
        r->labels_own = true;
        r->in_set = -1;
    }
    return (sr_labels *)r->labels;
}

void sr_record_set_label(sr_record *r, sr_str name, sr_str value) {
    sr_str old;
    if (sr_record_label(r, name, &old) && sr_str_eq(old, value)) return;
    sr_labels_set(own_labels(r), name, value);
}

void sr_record_remove_label(sr_record *r, sr_str name) {
    if (sr_record_label(r, name, NULL)) sr_labels_remove(own_labels(r), name);
}

bool sr_record_meta(const sr_record *r, sr_str key, sr_str *value) {
    for (size_t i = 0; i < r->meta_len; i++) {
        if (sr_str_eq(r->meta[i].key, key)) {
            if (value) *value = r->meta[i].value;
            return true;
        }
    }
    return false;
}

size_t sr_record_meta_len(const sr_record *r) { return r->meta_len; }

sr_pair sr_record_meta_at(const sr_record *r, size_t i) { return r->meta[i]; }

/* Makes the record's pairs its own, with room for `extra` more. */
static void own_meta(sr_record *r, size_t extra) {
    batch.changed |= CHANGED_METADATA;
    if (r->meta_own && r->meta_cap - r->meta_len >= extra) return;
    size_t cap = (r->meta_len + extra) * 2 + 2;
    sr_pair *pairs = arena_alloc(&batch_arena, cap * sizeof(sr_pair));
    if (r->meta_len) memcpy(pairs, r->meta, r->meta_len * sizeof(sr_pair));
    r->meta = pairs;
    r->meta_cap = cap;
    r->meta_own = true;
}

void sr_record_set_meta(sr_record *r, sr_str key, sr_str value) {
    for (size_t i = 0; i < r->meta_len; i++) {
        if (sr_str_eq(r->meta[i].key, key)) {
            if (sr_str_eq(r->meta[i].value, value)) return;
            own_meta(r, 0);
            r->meta[i].value = arena_str(&batch_arena, value);
            return;
        }
    }
    own_meta(r, 1);
    r->meta[r->meta_len++] =
        (sr_pair){arena_str(&batch_arena, key), arena_str(&batch_arena, value)};
}

void sr_record_remove_meta(sr_record *r, sr_str key) {
    if (!sr_record_meta(r, key, NULL)) return;
    own_meta(r, 0);
    size_t kept = 0;
    for (size_t i = 0; i < r->meta_len; i++) {
        if (!sr_str_eq(r->meta[i].key, key)) r->meta[kept++] = r->meta[i];
    }
    r->meta_len = kept;
}

/* Columns in ------------------------------------------------------------------------- */

static sr_str slice(const log_transform_string_t *s, uint32_t start, uint32_t end) {
    return (sr_str){(const char *)s->ptr + start, end - start};
}

static bool ends_ok(const log_transform_list_u32_t *ends, size_t limit) {
    uint32_t prev = 0;
    for (size_t i = 0; i < ends->len; i++) {
        if (ends->ptr[i] < prev || ends->ptr[i] > limit) return false;
        prev = ends->ptr[i];
    }
    return true;
}

static int label_cmp(const void *a, const void *b) {
    return str_cmp(((const sr_label *)a)->name, ((const sr_label *)b)->name);
}

/* Wraps the host's columns in records (no copies of the text). */
static bool open_batch(const log_transform_log_batch_t *in) {
    size_t n = in->line_ends.len;
    size_t n_pairs = in->metadata_ends.len / 2;
    if (in->timestamps.len != n || in->label_set_of.len != n ||
        in->record_metadata_ends.len != n || in->metadata_ends.len % 2 != 0 ||
        !ends_ok(&in->line_ends, in->lines.len) ||
        !ends_ok(&in->metadata_ends, in->metadata.len) ||
        !ends_ok(&in->record_metadata_ends, n_pairs))
        return sr_error("invalid batch from the host: column lengths or offsets disagree");
    batch.changed = 0;
    batch.n_in_sets = in->label_sets.len;
    batch.in_sets = arena_alloc(&batch_arena, batch.n_in_sets * sizeof(sr_labels) + 1);
    for (size_t s = 0; s < batch.n_in_sets; s++) {
        const sluice_plugin_types_list_label_t *set = &in->label_sets.ptr[s];
        sr_labels *labels = &batch.in_sets[s];
        labels->len = labels->cap = set->len;
        labels->items = arena_alloc(&batch_arena, set->len * sizeof(sr_label) + 1);
        bool sorted = true;
        for (size_t l = 0; l < set->len; l++) {
            labels->items[l].name = (sr_str){(const char *)set->ptr[l].f0.ptr, set->ptr[l].f0.len};
            labels->items[l].value = (sr_str){(const char *)set->ptr[l].f1.ptr, set->ptr[l].f1.len};
            if (l && str_cmp(labels->items[l - 1].name, labels->items[l].name) > 0) sorted = false;
        }
        if (!sorted) {
            qsort(labels->items, labels->len, sizeof(sr_label), label_cmp);
            batch.changed |= CHANGED_LABELS;
        }
    }
    sr_pair *pairs = arena_alloc(&batch_arena, n_pairs * sizeof(sr_pair) + 1);
    uint32_t at = 0;
    for (size_t p = 0; p < n_pairs; p++) {
        uint32_t key_end = in->metadata_ends.ptr[2 * p];
        uint32_t value_end = in->metadata_ends.ptr[2 * p + 1];
        pairs[p] = (sr_pair){slice(&in->metadata, at, key_end), slice(&in->metadata, key_end, value_end)};
        at = value_end;
    }
    batch.cap = n ? n : 1;
    batch.records = xrealloc(batch.records, batch.cap * sizeof(sr_record));
    batch.len = n;
    uint32_t line_start = 0, pair_start = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t set = in->label_set_of.ptr[i];
        if (set >= batch.n_in_sets)
            return sr_error("invalid batch from the host: label set %u of record %zu missing",
                            (unsigned)set, i);
        uint32_t line_end = in->line_ends.ptr[i];
        uint32_t pair_end = in->record_metadata_ends.ptr[i];
        batch.records[i] = (sr_record){
            .line = slice(&in->lines, line_start, line_end),
            .timestamp = in->timestamps.ptr[i],
            .labels = &batch.in_sets[set],
            .in_set = (long)set,
            .meta = pairs + pair_start,
            .meta_len = pair_end - pair_start,
        };
        line_start = line_end;
        pair_start = pair_end;
    }
    return true;
}

/* Frees a buffer the host passed in: an empty one was never allocated (its pointer is just
 * aligned, per the canonical ABI). */
static void free_in(void *ptr, size_t len) {
    if (len) free(ptr);
}

/* Frees what the host passed in (the export owns its arguments). */
static void free_input(log_transform_log_batch_t *in) {
    free_in(in->lines.ptr, in->lines.len);
    free_in(in->line_ends.ptr, in->line_ends.len);
    free_in(in->timestamps.ptr, in->timestamps.len);
    for (size_t s = 0; s < in->label_sets.len; s++) {
        sluice_plugin_types_list_label_t *set = &in->label_sets.ptr[s];
        for (size_t l = 0; l < set->len; l++) {
            free_in(set->ptr[l].f0.ptr, set->ptr[l].f0.len);
            free_in(set->ptr[l].f1.ptr, set->ptr[l].f1.len);
        }
        free_in(set->ptr, set->len);
    }
    free_in(in->label_sets.ptr, in->label_sets.len);
    free_in(in->label_set_of.ptr, in->label_set_of.len);
    free_in(in->metadata.ptr, in->metadata.len);
    free_in(in->metadata_ends.ptr, in->metadata_ends.len);
    free_in(in->record_metadata_ends.ptr, in->record_metadata_ends.len);
}

static void close_batch(void) {
    for (size_t j = 0; j < batch.n_jsons; j++) sr_json_free(batch.jsons[j]);
    free(batch.jsons);
    batch.jsons = NULL;
    batch.n_jsons = 0;
    batch.len = 0;
    batch.in_sets = NULL;
    batch.n_in_sets = 0;
    arena_free(&batch_arena);
}

/* Columns out ------------------------------------------------------------------------ */

static log_transform_string_t dup_string(sr_str s) {
    log_transform_string_t out = {NULL, s.len};
    if (s.len) {
        out.ptr = xmalloc(s.len);
        memcpy(out.ptr, s.ptr, s.len);
    }
    return out;
}

/* Moves a column the plugin left alone from the input to the output. */
#define MOVE(field)                                                                          \
    do {                                                                                     \
        out->field = in->field;                                                              \
        in->field.ptr = NULL;                                                                \
        in->field.len = 0;                                                                   \
    } while (0)

/* The records as columns that satisfy every rule of `log-batch`, label sets interned;
 * column groups the plugin did not change are moved from `in` rather than rebuilt. */
static bool build_output(log_transform_log_batch_t *in, log_transform_log_batch_t *out) {
    size_t n = batch.len;
    unsigned changed = batch.changed;
    *out = (log_transform_log_batch_t){0};

    if (changed & CHANGED_LINES) {
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++) bytes += batch.records[i].line.len;
        if (bytes > UINT32_MAX) return sr_error("output batch too large: lines exceed 4 GiB");
        out->lines = (log_transform_string_t){bytes ? xmalloc(bytes) : NULL, bytes};
        out->line_ends = (log_transform_list_u32_t){n ? xmalloc(n * 4) : NULL, n};
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            sr_str line = batch.records[i].line;
            if (line.len) memcpy(out->lines.ptr + at, line.ptr, line.len);
            at += line.len;
            out->line_ends.ptr[i] = (uint32_t)at;
        }
    } else {
        MOVE(lines);
        MOVE(line_ends);
    }

    if (changed & CHANGED_TIMESTAMPS) {
        out->timestamps = (log_transform_list_s64_t){n ? xmalloc(n * 8) : NULL, n};
        for (size_t i = 0; i < n; i++) out->timestamps.ptr[i] = batch.records[i].timestamp;
    } else {
        MOVE(timestamps);
    }

    if (changed & CHANGED_METADATA) {
        size_t bytes = 0, n_pairs = 0;
        for (size_t i = 0; i < n; i++) {
            const sr_record *r = &batch.records[i];
            n_pairs += r->meta_len;
            for (size_t p = 0; p < r->meta_len; p++) bytes += r->meta[p].key.len + r->meta[p].value.len;
        }
        if (bytes > UINT32_MAX || n_pairs > UINT32_MAX / 2)
            return sr_error("output batch too large: metadata exceeds 4 GiB");
        out->metadata = (log_transform_string_t){bytes ? xmalloc(bytes) : NULL, bytes};
        out->metadata_ends = (log_transform_list_u32_t){n_pairs ? xmalloc(n_pairs * 8) : NULL, n_pairs * 2};
        out->record_metadata_ends = (log_transform_list_u32_t){n ? xmalloc(n * 4) : NULL, n};
        size_t at = 0, pair = 0;
        for (size_t i = 0; i < n; i++) {
            const sr_record *r = &batch.records[i];
            for (size_t p = 0; p < r->meta_len; p++, pair++) {
                sr_str k = r->meta[p].key, v = r->meta[p].value;
                if (k.len) memcpy(out->metadata.ptr + at, k.ptr, k.len);
                at += k.len;
                out->metadata_ends.ptr[2 * pair] = (uint32_t)at;
                if (v.len) memcpy(out->metadata.ptr + at, v.ptr, v.len);
                at += v.len;
                out->metadata_ends.ptr[2 * pair + 1] = (uint32_t)at;
            }
            out->record_metadata_ends.ptr[i] = (uint32_t)pair;
        }
    } else {
        MOVE(metadata);
        MOVE(metadata_ends);
        MOVE(record_metadata_ends);
    }

    if (!(changed & CHANGED_LABELS)) {
        MOVE(label_sets);
        MOVE(label_set_of);
        return true;
    }
    /* Output set of each untouched input set: most records skip the hashing. */
    long *from_input = arena_alloc(&batch_arena, batch.n_in_sets * sizeof(long) + 1);
    for (size_t s = 0; s < batch.n_in_sets; s++) from_input[s] = -1;
    set_table sets;
    set_table_init(&sets, n);
    out->label_set_of = (log_transform_list_u32_t){n ? xmalloc(n * 4) : NULL, n};
    for (size_t i = 0; i < n; i++) {
        const sr_record *r = &batch.records[i];
        long s = r->in_set >= 0 ? from_input[r->in_set] : -1;
        if (s < 0) {
            bool added;
            s = (long)set_table_intern(&sets, r->labels, &added);
            if (r->in_set >= 0) from_input[r->in_set] = s;
        }
        out->label_set_of.ptr[i] = (uint32_t)s;
    }
    out->label_sets.len = sets.len;
    out->label_sets.ptr = sets.len ? xmalloc(sets.len * sizeof(*out->label_sets.ptr)) : NULL;
    for (size_t s = 0; s < sets.len; s++) {
        const sr_labels *labels = sets.keys[s];
        sluice_plugin_types_list_label_t *set = &out->label_sets.ptr[s];
        set->len = labels->len;
        set->ptr = labels->len ? xmalloc(labels->len * sizeof(*set->ptr)) : NULL;
        for (size_t l = 0; l < labels->len; l++) {
            set->ptr[l].f0 = dup_string(labels->items[l].name);
            set->ptr[l].f1 = dup_string(labels->items[l].value);
        }
    }
    return true;
}

/* JSON ------------------------------------------------------------------------------- */

struct sr_json {
    sr_json_kind kind;
    bool boolean;
    double number;
    sr_str str;
    sr_str raw;
    size_t len;
    sr_json *items;
    sr_str *keys;
    arena *owner; /* everything of the tree, this node included */
    bool root;
};

typedef struct parser {
    const char *p;
    const char *end;
    arena *a;
    int depth;
} parser;

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool parse_value(parser *ps, sr_json *out);

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

static void put_utf8(sr_buf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sr_buf_push(b, u, n);
}

/* A string literal at ps->p (on its opening quote), decoded into the arena. */
static bool parse_string(parser *ps, sr_str *out) {
    const char *p = ++ps->p;
    /* Fast path: no escapes. */
    while (p < ps->end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
    if (p < ps->end && *p == '"') {
        *out = arena_str(ps->a, (sr_str){ps->p, (size_t)(p - ps->p)});
        ps->p = p + 1;
        return true;
    }
    sr_buf b = {0};
    sr_buf_push(&b, ps->p, (size_t)(p - ps->p));
    while (p < ps->end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) goto bad;
        if (c != '\\') {
            sr_buf_push(&b, p++, 1);
            continue;
        }
        if (++p >= ps->end) goto bad;
        switch (*p++) {
        case '"': sr_buf_push(&b, "\"", 1); break;
        case '\\': sr_buf_push(&b, "\\", 1); break;
        case '/': sr_buf_push(&b, "/", 1); break;
        case 'b': sr_buf_push(&b, "\b", 1); break;
        case 'f': sr_buf_push(&b, "\f", 1); break;
        case 'n': sr_buf_push(&b, "\n", 1); break;
        case 'r': sr_buf_push(&b, "\r", 1); break;
        case 't': sr_buf_push(&b, "\t", 1); break;
        case 'u': {
            if (ps->end - p < 4) goto bad;
            int cp = hex4(p);
            if (cp < 0) goto bad;
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && ps->end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                int lo = hex4(p + 2);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD; /* a lone surrogate */
            put_utf8(&b, (uint32_t)cp);
            break;
        }
        default: goto bad;
        }
    }
    if (p >= ps->end) goto bad;
    *out = arena_str(ps->a, sr_buf_str(&b));
    sr_buf_free(&b);
    ps->p = p + 1;
    return true;
bad:
    sr_buf_free(&b);
    return sr_error("invalid JSON string at byte %zu", (size_t)(p - ps->p));
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool parse_number(parser *ps, sr_json *out) {
    const char *p = ps->p, *start = p;
    if (p < ps->end && *p == '-') p++;
    if (p < ps->end && *p == '0') p++;
    else if (p < ps->end && is_digit(*p)) while (p < ps->end && is_digit(*p)) p++;
    else return sr_error("invalid JSON number");
    if (p < ps->end && *p == '.') {
        if (++p >= ps->end || !is_digit(*p)) return sr_error("invalid JSON number");
        while (p < ps->end && is_digit(*p)) p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < ps->end && (*p == '+' || *p == '-')) p++;
        if (p >= ps->end || !is_digit(*p)) return sr_error("invalid JSON number");
        while (p < ps->end && is_digit(*p)) p++;
    }
    out->kind = SR_JSON_NUMBER;
    out->str = (sr_str){start, (size_t)(p - start)};
    char tmp[64];
    size_t n = out->str.len < sizeof tmp - 1 ? out->str.len : sizeof tmp - 1;
    memcpy(tmp, start, n);
    tmp[n] = 0;
    out->number = strtod(tmp, NULL);
    ps->p = p;
    return true;
}

static bool literal(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return sr_error("invalid JSON at `%.10s`", ps->p);
    ps->p += n;
    return true;
}

/* Items of an array or object: parsed into a temporary vector, then moved to the arena. */
static bool parse_container(parser *ps, sr_json *out, bool object) {
    char close = object ? '}' : ']';
    ps->p++;
    if (++ps->depth > 128) return sr_error("JSON nested too deeply");
    sr_json *items = NULL;
    sr_str *keys = NULL;
    size_t len = 0, cap = 0;
    bool ok = false;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ok = true;
        goto done;
    }
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            items = xrealloc(items, cap * sizeof(sr_json));
            if (object) keys = xrealloc(keys, cap * sizeof(sr_str));
        }
        skip_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                sr_error("expected a JSON object key");
                goto done;
            }
            if (!parse_string(ps, &keys[len])) goto done;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                sr_error("expected `:` in a JSON object");
                goto done;
            }
            ps->p++;
        }
        if (!parse_value(ps, &items[len])) goto done;
        len++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            ok = true;
            break;
        }
        sr_error("expected `,` or `%c` in JSON", close);
        goto done;
    }
done:
    ps->depth--;
    out->kind = object ? SR_JSON_OBJECT : SR_JSON_ARRAY;
    out->len = len;
    out->items = arena_alloc(ps->a, len * sizeof(sr_json) + 1);
    if (len) memcpy(out->items, items, len * sizeof(sr_json));
    if (object) {
        out->keys = arena_alloc(ps->a, len * sizeof(sr_str) + 1);
        if (len) memcpy(out->keys, keys, len * sizeof(sr_str));
    }
    free(items);
    free(keys);
    return ok;
}

static bool parse_value(parser *ps, sr_json *out) {
    *out = (sr_json){.owner = ps->a};
    skip_ws(ps);
    const char *start = ps->p;
    bool ok;
    if (ps->p >= ps->end) return sr_error("unexpected end of JSON");
    switch (*ps->p) {
    case '{': ok = parse_container(ps, out, true); break;
    case '[': ok = parse_container(ps, out, false); break;
    case '"':
        out->kind = SR_JSON_STRING;
        ok = parse_string(ps, &out->str);
        break;
    case 't':
        out->kind = SR_JSON_BOOL;
        out->boolean = true;
        ok = literal(ps, "true");
        break;
    case 'f':
        out->kind = SR_JSON_BOOL;
        ok = literal(ps, "false");
        break;
    case 'n':
        out->kind = SR_JSON_NULL;
        ok = literal(ps, "null");
        break;
    default: ok = parse_number(ps, out); break;
    }
    out->raw = (sr_str){start, (size_t)(ps->p - start)};
    if (out->kind != SR_JSON_STRING) {
        if (out->kind != SR_JSON_NUMBER) out->str = out->raw;
    }
    return ok;
}

sr_json *sr_json_parse(sr_str text) {
    arena *a = xmalloc(sizeof(arena));
    a->head = NULL;
    /* The tree points into its own copy of the text (raw texts, numbers, plain strings). */
    sr_str copy = arena_str(a, text);
    parser ps = {copy.ptr, copy.ptr + copy.len, a, 0};
    sr_json *root = arena_alloc(a, sizeof(sr_json));
    bool ok = parse_value(&ps, root);
    if (ok) {
        skip_ws(&ps);
        if (ps.p != ps.end) ok = sr_error("trailing characters after JSON");
    }
    if (!ok) {
        arena_free(a);
        free(a);
        return NULL;
    }
    root->root = true;
    return root;
}

void sr_json_free(sr_json *value) {
    if (!value || !value->root) return;
    arena *a = value->owner;
    arena_free(a);
    free(a);
}

const sr_json *sr_record_json(sr_record *r) {
    if (r->line.len == 0 || r->line.ptr[0] != '{') return NULL;
    char saved[sizeof error_message]; /* a line that is not JSON is no error of the plugin */
    memcpy(saved, error_message, sizeof saved);
    sr_json *v = sr_json_parse(r->line);
    memcpy(error_message, saved, sizeof saved);
    if (!v) return NULL;
    if (v->kind != SR_JSON_OBJECT) {
        sr_json_free(v);
        return NULL;
    }
    batch.jsons = xrealloc(batch.jsons, (batch.n_jsons + 1) * sizeof(sr_json *));
    batch.jsons[batch.n_jsons++] = v;
    return v;
}

sr_json_kind sr_json_type(const sr_json *v) { return v->kind; }
sr_str sr_json_str(const sr_json *v) { return v->str; }
sr_str sr_json_raw(const sr_json *v) { return v->raw; }
bool sr_json_bool(const sr_json *v) { return v->kind == SR_JSON_BOOL && v->boolean; }
double sr_json_number(const sr_json *v) { return v->kind == SR_JSON_NUMBER ? v->number : 0; }
size_t sr_json_len(const sr_json *v) {
    return v->kind == SR_JSON_ARRAY || v->kind == SR_JSON_OBJECT ? v->len : 0;
}
const sr_json *sr_json_at(const sr_json *v, size_t i) { return &v->items[i]; }
sr_str sr_json_key(const sr_json *v, size_t i) { return v->keys[i]; }

bool sr_json_int(const sr_json *v, int64_t *out) {
    if (v->kind == SR_JSON_BOOL) {
        *out = v->boolean;
        return true;
    }
    if (v->kind != SR_JSON_NUMBER) return false;
    sr_str s = v->str;
    size_t i = s.len && s.ptr[0] == '-' ? 1 : 0;
    if (i == s.len) return false;
    int64_t value = 0;
    for (; i < s.len; i++) {
        if (!is_digit(s.ptr[i])) return false; /* a fraction or exponent: not an integer */
        int d = s.ptr[i] - '0';
        value = value > (INT64_MAX - d) / 10 ? INT64_MAX : value * 10 + d;
    }
    *out = s.ptr[0] == '-' ? -value : value;
    return true;
}

const sr_json *sr_json_get(const sr_json *v, const char *key) {
    if (v->kind != SR_JSON_OBJECT) return NULL;
    sr_str k = sr_cstr(key);
    for (size_t i = v->len; i-- > 0;) {
        if (sr_str_eq(v->keys[i], k)) return &v->items[i];
    }
    return NULL;
}

/* Config helpers --------------------------------------------------------------------- */

bool sr_check_keys(const sr_json *config, const char *const *allowed, size_t n_allowed) {
    if (config->kind != SR_JSON_OBJECT) return sr_error("config must be a table");
    for (size_t i = 0; i < config->len; i++) {
        sr_str key = config->keys[i];
        bool known = false;
        for (size_t a = 0; a < n_allowed && !known; a++) known = sr_str_eq(key, sr_cstr(allowed[a]));
        if (known) continue;
        sr_buf list = {0};
        for (size_t a = 0; a < n_allowed; a++) {
            if (a) sr_buf_push(&list, ", ", 2);
            sr_buf_push(&list, "`", 1);
            sr_buf_push_str(&list, sr_cstr(allowed[a]));
            sr_buf_push(&list, "`", 1);
        }
        if (!n_allowed) sr_buf_push(&list, "none", 4);
        sr_error("unknown config key `%.*s` (known: %.*s)", (int)key.len, key.ptr,
                 (int)list.len, list.ptr);
        sr_buf_free(&list);
        return false;
    }
    return true;
}

bool sr_get_str_map(const sr_json *config, const char *key, sr_str_map *out) {
    *out = (sr_str_map){0};
    const sr_json *table = sr_json_get(config, key);
    if (!table) return true;
    if (table->kind != SR_JSON_OBJECT) return sr_error("`%s` must be a table of strings", key);
    size_t n = table->len;
    for (size_t i = 0; i < n; i++) {
        if (table->items[i].kind != SR_JSON_STRING)
            return sr_error("`%s` must be a table of strings", key);
    }
    out->keys = arena_alloc(table->owner, n * sizeof(sr_str) + 1);
    out->values = arena_alloc(table->owner, n * sizeof(sr_str) + 1);
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < out->len && !sr_str_eq(out->keys[j], table->keys[i])) j++;
        out->keys[j] = table->keys[i];
        out->values[j] = table->items[i].str;
        if (j == out->len) out->len++;
    }
    return true;
}

/* Host functions --------------------------------------------------------------------- */

void sr_log(sr_level level, const char *format, ...) {
    va_list args, again;
    va_start(args, format);
    va_copy(again, args);
    int n = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (n < 0) n = 0;
    char *text = xmalloc((size_t)n + 1);
    vsnprintf(text, (size_t)n + 1, format, again);
    va_end(again);
    log_transform_string_t message = {(uint8_t *)text, (size_t)n};
    sluice_plugin_host_log((sluice_plugin_host_level_t)level, &message);
    free(text);
}

bool sr_metric_id(const char *name, uint32_t *id) {
    log_transform_string_t s = {(uint8_t *)name, strlen(name)};
    return sluice_plugin_host_metric_id(&s, id);
}

typedef void (*metric_fn)(uint32_t, log_transform_list_string_t *, double, log_transform_string_t *);

static void metric_call(metric_fn f, uint32_t metric, const sr_str *labels, size_t n,
                        double value, const sr_str *trace_id) {
    log_transform_string_t small[8];
    log_transform_string_t *values = n <= 8 ? small : xmalloc(n * sizeof(*values));
    for (size_t i = 0; i < n; i++) values[i] = (log_transform_string_t){(uint8_t *)labels[i].ptr, labels[i].len};
    log_transform_list_string_t list = {values, n};
    log_transform_string_t trace;
    if (trace_id) trace = (log_transform_string_t){(uint8_t *)trace_id->ptr, trace_id->len};
    f(metric, &list, value, trace_id ? &trace : NULL);
    if (values != small) free(values);
}

void sr_counter_add(uint32_t metric, const sr_str *labels, size_t n, double value,
                    const sr_str *trace_id) {
    metric_call(sluice_plugin_host_counter_add, metric, labels, n, value, trace_id);
}

void sr_histogram_observe(uint32_t metric, const sr_str *labels, size_t n, double value,
                          const sr_str *trace_id) {
    metric_call(sluice_plugin_host_histogram_observe, metric, labels, n, value, trace_id);
}

/* The exports ------------------------------------------------------------------------ */

static bool initialised;
static sr_json *config_tree;

bool exports_log_transform_init(log_transform_string_t *config, log_transform_string_t *err) {
    error_message[0] = 0;
    sr_json *parsed = sr_json_parse((sr_str){(const char *)config->ptr, config->len});
    free_in(config->ptr, config->len);
    initialised = false;
    if (!parsed) {
        char reason[sizeof error_message];
        memcpy(reason, error_message, sizeof reason);
        sr_error("config is not valid JSON: %s", reason);
        error_result(err, "invalid config");
        return false;
    }
    /* The config tree lives until the next init (the host calls init once per instance):
     * the plugin may keep pointers into it. */
    sr_json_free(config_tree);
    config_tree = parsed;
    if (!sr_plugin_init(parsed)) {
        error_result(err, "sr_plugin_init failed");
        return false;
    }
    initialised = true;
    return true;
}

bool exports_log_transform_process(log_transform_log_batch_t *in, log_transform_log_batch_t *ret,
                                   log_transform_string_t *err) {
    error_message[0] = 0;
    bool ok;
    if (!initialised) ok = sr_error("plugin not initialised: process called before init");
    else ok = open_batch(in) && sr_plugin_process(&batch) && build_output(in, ret);
    close_batch();
    free_input(in); /* what build_output did not move to the output */
    if (!ok) error_result(err, "sr_plugin_process failed");
    return ok;
}
