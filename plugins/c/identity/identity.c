/* c-identity: returns every batch unchanged; what a C plugin costs with no work of its own
 * (docs/plugins.md, the language table). */
#include "sluice_records.h"

bool sr_plugin_init(const sr_json *config) { return sr_check_keys(config, NULL, 0); }

bool sr_plugin_process(sr_batch *batch) {
    (void)batch;
    return true;
}
