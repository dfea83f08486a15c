/* {{name}}: a sluice log-transform plugin in C.
 *
 * Build: `make` -> {{name}}.wasm (clang for wasm32-wasi, then `sluice plugin componentize`)
 * Try it: `sluice plugin test {{name}}.wasm --input sample.log`
 * Test natively: `make test` (test/test.c, with AddressSanitizer and UBSan)
 *
 * Config: `labels = { name = "value" }`, set on every record (an example to replace).
 *
 * The record view, the config parser and the host functions are in sluice_records.h; this
 * file defines sr_plugin_init and sr_plugin_process and nothing else of the contract.
 */
#include "sluice_records.h"

/* State between calls lives in statics: one instance per worker, never shared. The map
 * points into the config, which lives as long as the instance. */
static sr_str_map labels;

bool sr_plugin_init(const sr_json *config) {
    static const char *const keys[] = {"labels"};
    labels = (sr_str_map){0};
    return sr_check_keys(config, keys, 1) && sr_get_str_map(config, "labels", &labels);
}

static void set_labels(sr_labels *set, void *ctx) {
    (void)ctx;
    for (size_t i = 0; i < labels.len; i++) sr_labels_set(set, labels.keys[i], labels.values[i]);
}

bool sr_plugin_process(sr_batch *batch) {
    /* Edit here. Labels that do not depend on the line are set once per distinct label set;
     * to look at each record instead:
     *
     *     for (size_t i = 0; i < sr_batch_len(batch); i++) {
     *         sr_record *r = sr_batch_record(batch, i);
     *         sr_str line = sr_record_line(r);
     *         ... sr_record_set_line(r, ...), sr_record_set_label(r, name, value) ...
     *     }
     *
     * Return sr_error("...") to fail the batch. */
    if (labels.len) sr_batch_map_label_sets(batch, set_labels, NULL);
    return true;
}
