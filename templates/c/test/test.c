/* The unit tests of {{name}}: the plugin natively, through the real exports, with the host
 * functions stubbed (harness.h). `make test`. */
#include <string.h>

#include "harness.h"
#include "sluice_records.h"

/* The metrics the stub host declares (none here). */
const char *declared_metrics[] = {NULL};

static void sets_labels(void) {
    CHECK(run_init("{\"labels\": {\"env\": \"prod\"}}") == NULL);
    rec_in records[] = {{"hello", "app=web", ""}, {"world", "", "k=v"}};
    log_transform_log_batch_t out;
    CHECK(run_process(records, 2, &out) == NULL);
    CHECK_STR(out_line(&out, 0), "hello");
    CHECK_STR(out_labels(&out, 0), "app=web,env=prod");
    CHECK_STR(out_labels(&out, 1), "env=prod");
    CHECK_STR(out_meta(&out, 1), "k=v");
    free_batch(&out);
}

static void no_config_changes_nothing(void) {
    CHECK(run_init("{}") == NULL);
    rec_in records[] = {{"hello", "app=web", ""}};
    log_transform_log_batch_t out;
    CHECK(run_process(records, 1, &out) == NULL);
    CHECK_STR(out_labels(&out, 0), "app=web");
    free_batch(&out);
}

static void config_errors(void) {
    CHECK_STR(run_init("{\"lables\": {}}"), "unknown config key `lables` (known: `labels`)");
    CHECK_STR(run_init("{\"labels\": {\"env\": 1}}"), "`labels` must be a table of strings");
}

int main(void) {
    static const test_case tests[] = {
        {"sets_labels", sets_labels},
        {"no_config_changes_nothing", no_config_changes_nothing},
        {"config_errors", config_errors},
    };
    return run_tests("{{name}}", tests, sizeof tests / sizeof tests[0]);
}
