/* sluice_records.h: records over the columnar log batch, for C sluice plugins.
 *
 * A sluice plugin is a WebAssembly component exporting the `log-transform` world of
 * wit/sluice.wit (package `sluice:plugin@0.1.4`, world `log-transform`). The host hands it a batch of records as a
 * few flat columns (every line in one string plus byte end offsets, interned label sets,
 * packed metadata). This library hides those offsets: a plugin gets a batch of records with
 * a line, a timestamp, labels and metadata, changes them in place, and the library builds
 * valid output columns again. It also parses the config JSON and wraps the host functions.
 *
 * A plugin defines two functions and nothing else of the contract:
 *
 *     #include "sluice_records.h"
 *
 *     bool sr_plugin_init(const sr_json *config) {
 *         return sr_check_keys(config, NULL, 0);
 *     }
 *
 *     bool sr_plugin_process(sr_batch *batch) {
 *         for (size_t i = 0; i < sr_batch_len(batch); i++) {
 *             sr_record *r = sr_batch_record(batch, i);
 *             ... sr_record_line(r), sr_record_set_line(r, ...) ...
 *         }
 *         return true;
 *     }
 *
 * Returning false fails the call (init: the pipeline is refused; process: this batch
 * only) with the message last given to `sr_error`, e.g. `return sr_error("bad `%s`", k);`.
 * State kept between calls lives in the plugin's static variables (one instance per
 * worker, never shared).
 *
 * Memory: every string the library hands out (sr_str) and every string a plugin passes
 * to a setter (which copies it) lives until the end of the current batch; the plugin never
 * frees any of them. The config tree lives as long as the instance. Strings are UTF-8 and
 * not NUL-terminated: print them with "%.*s", (int)s.len, s.ptr.
 *
 * Build (docs/plugins.md, "C"): clang --target=wasm32-wasi with the bindings
 * `sluice plugin c-bindings` writes (wit-bindgen's log_transform.h/.c), then `sluice plugin
 * componentize`; the Makefile of `sluice plugin new --lang c` does both, and so does
 * `make plugins-c` in the sluice repo.
 * Natively (any C compiler, host functions stubbed) the same code runs in unit tests.
 */
#ifndef SLUICE_RECORDS_H
#define SLUICE_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Strings ---------------------------------------------------------------------------- */

/* A UTF-8 string slice: `len` bytes at `ptr`, not NUL-terminated. */
typedef struct sr_str {
    const char *ptr;
    size_t len;
} sr_str;

/* An sr_str of a string literal: SR_LIT("env"). */
#define SR_LIT(s) ((sr_str){(s), sizeof(s) - 1})

/* An sr_str of a NUL-terminated string. */
sr_str sr_cstr(const char *s);
/* Whether `a` and `b` hold the same bytes. */
bool sr_str_eq(sr_str a, sr_str b);

/* A growable byte buffer, for building new lines (sr_buf b = {0}; ... sr_buf_free(&b)). */
typedef struct sr_buf {
    char *ptr;
    size_t len;
    size_t cap;
} sr_buf;

void sr_buf_push(sr_buf *b, const char *bytes, size_t len);
void sr_buf_push_str(sr_buf *b, sr_str s);
/* The buffer's contents as an sr_str (valid until the buffer changes). */
sr_str sr_buf_str(const sr_buf *b);
void sr_buf_free(sr_buf *b);

/* Labels ----------------------------------------------------------------------------- */

typedef struct sr_label {
    sr_str name;
    sr_str value;
} sr_label;

/* A label set, sorted by name. Read with sr_labels_len/sr_labels_at/sr_labels_get;
 * change only the one a sr_batch_map_label_sets callback is given. */
typedef struct sr_labels sr_labels;

size_t sr_labels_len(const sr_labels *labels);
sr_label sr_labels_at(const sr_labels *labels, size_t i);
/* The value of label `name` into *value; false when the set has none. */
bool sr_labels_get(const sr_labels *labels, sr_str name, sr_str *value);
/* Sets label `name` (replacing its value) / removes it; both copy what they keep. */
void sr_labels_set(sr_labels *labels, sr_str name, sr_str value);
void sr_labels_remove(sr_labels *labels, sr_str name);

/* Records and batches ---------------------------------------------------------------- */

typedef struct sr_record sr_record;
typedef struct sr_batch sr_batch;

/* A metadata pair (key, value). */
typedef struct sr_pair {
    sr_str key;
    sr_str value;
} sr_pair;

size_t sr_batch_len(const sr_batch *batch);
/* Record `i` (0 <= i < sr_batch_len). Valid until sr_batch_retain or sr_batch_push. */
sr_record *sr_batch_record(sr_batch *batch, size_t i);
/* Keeps only the records for which keep(record, ctx) is true (a filter). */
void sr_batch_retain(sr_batch *batch, bool (*keep)(const sr_record *record, void *ctx),
                     void *ctx);
/* Appends a record without labels or metadata (set them afterwards) and returns it. */
sr_record *sr_batch_push(sr_batch *batch, sr_str line, int64_t timestamp);
/* Calls change(labels, ctx) once per distinct label set rather than per record; what it
 * does to `labels` becomes the labels of every record that had that set. The cheap way to
 * add or rewrite labels that do not depend on the line. */
void sr_batch_map_label_sets(sr_batch *batch, void (*change)(sr_labels *labels, void *ctx),
                             void *ctx);

sr_str sr_record_line(const sr_record *record);
/* Replaces the line (copied). */
void sr_record_set_line(sr_record *record, sr_str line);
/* Nanoseconds since the Unix epoch. */
int64_t sr_record_timestamp(const sr_record *record);
void sr_record_set_timestamp(sr_record *record, int64_t timestamp);

/* The value of label `name` into *value; false when the record has none. */
bool sr_record_label(const sr_record *record, sr_str name, sr_str *value);
/* The record's label set, read-only (sorted by name). */
const sr_labels *sr_record_labels(const sr_record *record);
void sr_record_set_label(sr_record *record, sr_str name, sr_str value);
void sr_record_remove_label(sr_record *record, sr_str name);

/* The value of the first metadata pair with `key` into *value; false when none. */
bool sr_record_meta(const sr_record *record, sr_str key, sr_str *value);
size_t sr_record_meta_len(const sr_record *record);
sr_pair sr_record_meta_at(const sr_record *record, size_t i);
/* Sets metadata `key`: replaces its first pair, or appends one. */
void sr_record_set_meta(sr_record *record, sr_str key, sr_str value);
/* Removes every pair with `key`. */
void sr_record_remove_meta(sr_record *record, sr_str key);

/* JSON (the config, or a line) ------------------------------------------------------- */

typedef enum sr_json_kind {
    SR_JSON_NULL,
    SR_JSON_BOOL,
    SR_JSON_NUMBER,
    SR_JSON_STRING,
    SR_JSON_ARRAY,
    SR_JSON_OBJECT,
} sr_json_kind;

typedef struct sr_json sr_json;

/* Parses `text` (one JSON value); NULL, with the reason in sr_last_error(), if invalid.
 * Free the tree with sr_json_free. */
sr_json *sr_json_parse(sr_str text);
void sr_json_free(sr_json *value);
/* The value of `line` as a JSON object, or NULL (not an object, not JSON); freed with the
 * batch. */
const sr_json *sr_record_json(sr_record *record);

sr_json_kind sr_json_type(const sr_json *value);
/* Strings: the decoded text. Numbers: the literal. Others: the JSON text. */
sr_str sr_json_str(const sr_json *value);
/* The value's JSON text as written. */
sr_str sr_json_raw(const sr_json *value);
bool sr_json_bool(const sr_json *value);
/* An integer literal (or a bool, as 0/1) into *out; false for any other value. */
bool sr_json_int(const sr_json *value, int64_t *out);
/* A number's value (0 for other kinds). */
double sr_json_number(const sr_json *value);
/* Items of an array, members of an object. */
size_t sr_json_len(const sr_json *value);
const sr_json *sr_json_at(const sr_json *value, size_t i);
/* The key of member `i` of an object. */
sr_str sr_json_key(const sr_json *value, size_t i);
/* Member `key` of an object (the last one, as most parsers do), or NULL. */
const sr_json *sr_json_get(const sr_json *object, const char *key);

/* Config helpers (they set the error message and return false on a bad config) ------- */

/* Fails naming the first key of `config` not in `allowed`, or when it is not a table. */
bool sr_check_keys(const sr_json *config, const char *const *allowed, size_t n_allowed);

/* A table of strings, in the order given (a later duplicate key replaces the value). */
typedef struct sr_str_map {
    sr_str *keys;
    sr_str *values;
    size_t len;
} sr_str_map;

/* config[key] as a table of strings (empty when absent); fails when it is anything else.
 * The map lives as long as `config`. */
bool sr_get_str_map(const sr_json *config, const char *key, sr_str_map *out);

/* Errors ----------------------------------------------------------------------------- */

/* Sets the message of the failure being returned (printf format) and returns false. */
bool sr_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* The last message given to sr_error. */
const char *sr_last_error(void);

/* Host functions (sluice:plugin/host) ------------------------------------------------ */

typedef enum sr_level {
    SR_TRACE = 0,
    SR_DEBUG = 1,
    SR_INFO = 2,
    SR_WARN = 3,
    SR_ERROR = 4,
} sr_level;

/* A line in the collector's log (printf format). Never log what you were asked to redact. */
void sr_log(sr_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* The id of the metric `name` declared for this transform into *id; false when none.
 * Look ids up once, in init. */
bool sr_metric_id(const char *name, uint32_t *id);
/* Adds `value` to counter `metric`; `labels` are values for its declared label names, in
 * order; `trace_id` (or NULL) becomes an exemplar. */
void sr_counter_add(uint32_t metric, const sr_str *labels, size_t n_labels, double value,
                    const sr_str *trace_id);
/* One observation of `value` in histogram `metric`; labels and trace_id as above. */
void sr_histogram_observe(uint32_t metric, const sr_str *labels, size_t n_labels,
                          double value, const sr_str *trace_id);

/* What the plugin defines ------------------------------------------------------------ */

/* Once per instance, with the transform's config table ({} when none). */
bool sr_plugin_init(const sr_json *config);
/* Once per batch: change, drop or add records in place. */
bool sr_plugin_process(sr_batch *batch);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_RECORDS_H */
