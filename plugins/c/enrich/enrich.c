/* c-enrich: adds static labels and lifts metadata values into labels, like the Rust
 * `enrich` plugin; the C twin of plugins/python/enrich/app.py.
 *
 * Config (unknown keys are init errors):
 *
 * - `labels`: table `{name = "value", ...}` set on every record, replacing a label of the
 *   same name. Applied once per distinct label set.
 * - `from_metadata`: table `{label_name = "metadata_key", ...}`: a record whose metadata has
 *   the key gets that label with its value (after `labels`, so it wins).
 * - `max_values_per_label` (default 100): once a lifted label has seen this many distinct
 *   values, new ones become `__overflow__` (counted in `enrich_overflow_total` when
 *   declared, logged once per label).
 */
#include <stdlib.h>
#include <string.h>

#include "sluice_records.h"

#define OVERFLOW "__overflow__"

/* The distinct values a lifted label has seen: a set of strings this plugin owns. */
typedef struct seen_set {
    char **items; /* each a malloc'd copy, its length in lens */
    size_t *lens;
    size_t len;
    size_t cap; /* slots, a power of two; 0 before the first insert */
} seen_set;

static size_t hash_str(sr_str s) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.len; i++) h = (h ^ (uint8_t)s.ptr[i]) * 16777619u;
    return h;
}

static bool seen_has(const seen_set *set, sr_str value) {
    if (!set->cap) return false;
    for (size_t i = hash_str(value) & (set->cap - 1); set->items[i]; i = (i + 1) & (set->cap - 1)) {
        if (set->lens[i] == value.len && memcmp(set->items[i], value.ptr, value.len) == 0)
            return true;
    }
    return false;
}

static void seen_put(seen_set *set, char *item, size_t len) {
    size_t i = hash_str((sr_str){item, len}) & (set->cap - 1);
    while (set->items[i]) i = (i + 1) & (set->cap - 1);
    set->items[i] = item;
    set->lens[i] = len;
}

static void seen_add(seen_set *set, sr_str value) {
    if ((set->len + 1) * 2 > set->cap) {
        seen_set grown = {0};
        grown.cap = set->cap ? set->cap * 2 : 16;
        grown.items = calloc(grown.cap, sizeof(char *));
        grown.lens = calloc(grown.cap, sizeof(size_t));
        if (!grown.items || !grown.lens) abort();
        for (size_t i = 0; i < set->cap; i++) {
            if (set->items[i]) seen_put(&grown, set->items[i], set->lens[i]);
        }
        free(set->items);
        free(set->lens);
        grown.len = set->len;
        *set = grown;
    }
    char *copy = malloc(value.len + 1); /* never NULL, even for "" */
    if (!copy) abort();
    memcpy(copy, value.ptr, value.len);
    seen_put(set, copy, value.len);
    set->len++;
}

static sr_str_map statics;
static sr_str_map lifts; /* label name -> metadata key */
static int64_t max_values;
static seen_set *seen; /* per lift */
static bool *warned;   /* per lift */
static bool has_metric;
static uint32_t metric;

static bool valid_label_name(sr_str name) {
    if (name.len == 0) return false;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

static bool check_names(const sr_str_map *map) {
    for (size_t i = 0; i < map->len; i++) {
        if (!valid_label_name(map->keys[i]))
            return sr_error("`%.*s` is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                            (int)map->keys[i].len, map->keys[i].ptr);
    }
    return true;
}

static void seen_free(seen_set *set) {
    for (size_t i = 0; i < set->cap; i++) free(set->items[i]);
    free(set->items);
    free(set->lens);
    *set = (seen_set){0};
}

bool sr_plugin_init(const sr_json *config) {
    static const char *const keys[] = {"labels", "from_metadata", "max_values_per_label"};
    for (size_t l = 0; seen && l < lifts.len; l++) seen_free(&seen[l]); /* a second init */
    free(seen);
    free(warned);
    seen = NULL;
    warned = NULL;
    lifts = statics = (sr_str_map){0};
    if (!sr_check_keys(config, keys, 3) || !sr_get_str_map(config, "labels", &statics) ||
        !sr_get_str_map(config, "from_metadata", &lifts) || !check_names(&statics) ||
        !check_names(&lifts))
        return false;
    const sr_json *max = sr_json_get(config, "max_values_per_label");
    max_values = 100;
    if (max && (!sr_json_int(max, &max_values) || max_values < 0))
        return sr_error("`max_values_per_label` must be a non-negative integer");
    seen = calloc(lifts.len + 1, sizeof(seen_set));
    warned = calloc(lifts.len + 1, sizeof(bool));
    if (!seen || !warned) abort();
    has_metric = sr_metric_id("enrich_overflow_total", &metric);
    return true;
}

static void set_statics(sr_labels *labels, void *ctx) {
    (void)ctx;
    for (size_t i = 0; i < statics.len; i++) sr_labels_set(labels, statics.keys[i], statics.values[i]);
}

bool sr_plugin_process(sr_batch *batch) {
    if (statics.len) sr_batch_map_label_sets(batch, set_statics, NULL);
    for (size_t l = 0; l < lifts.len; l++) {
        sr_str label = lifts.keys[l], key = lifts.values[l];
        size_t overflowed = 0;
        for (size_t i = 0; i < sr_batch_len(batch); i++) {
            sr_record *record = sr_batch_record(batch, i);
            sr_str value;
            if (!sr_record_meta(record, key, &value)) continue;
            if (!seen_has(&seen[l], value)) {
                if ((int64_t)seen[l].len < max_values) {
                    seen_add(&seen[l], value);
                } else {
                    value = SR_LIT(OVERFLOW);
                    overflowed++;
                }
            }
            sr_record_set_label(record, label, value);
        }
        if (!overflowed) continue;
        if (has_metric) sr_counter_add(metric, &label, 1, (double)overflowed, NULL);
        if (!warned[l]) {
            warned[l] = true;
            sr_log(SR_WARN,
                   "label `%.*s` (from metadata `%.*s`) reached max_values_per_label = %lld: "
                   "further new values become `" OVERFLOW "`",
                   (int)label.len, label.ptr, (int)key.len, key.ptr, (long long)max_values);
        }
    }
    return true;
}
