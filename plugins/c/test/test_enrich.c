/* test_enrich.c: plugins/c/enrich natively, through the real exports; the cases of
 * plugins/python/test_plugins.py plus the overflow metric and warning. */
#include <string.h>

#include "harness.h"
#include "sluice_records.h"

const char *declared_metrics[] = {"enrich_overflow_total", NULL};

static void statics_and_lifts(void) {
    CHECK(run_init("{\"labels\": {\"env\": \"prod\"}, \"from_metadata\": {\"tenant\": \"t\"}, "
                   "\"max_values_per_label\": 1}") == NULL);
    rec_in records[] = {
        {"a", "app=web,env=dev", "t=x"},
        {"b", "app=web,env=dev", "t=y"},
        {"c", "app=api", ""},
    };
    log_transform_log_batch_t out;
    CHECK(run_process(records, 3, &out) == NULL);
    CHECK_STR(out_labels(&out, 0), "app=web,env=prod,tenant=x");
    CHECK_STR(out_labels(&out, 1), "app=web,env=prod,tenant=__overflow__");
    CHECK_STR(out_labels(&out, 2), "app=api,env=prod");
    CHECK_STR(out_meta(&out, 0), "t=x");
    free_batch(&out);
    CHECK_STR(counter_log, "enrich_overflow_total{tenant} 1\n");
    CHECK_STR(host_log, "3 label `tenant` (from metadata `t`) reached max_values_per_label = 1: "
                        "further new values become `__overflow__`\n");
    /* Seen values carry over between batches; the warning is logged once. */
    host_log[0] = 0;
    rec_in again[] = {{"d", "app=web", "t=x"}, {"e", "app=web", "t=z"}};
    CHECK(run_process(again, 2, &out) == NULL);
    CHECK_STR(out_labels(&out, 0), "app=web,env=prod,tenant=x");
    CHECK_STR(out_labels(&out, 1), "app=web,env=prod,tenant=__overflow__");
    CHECK_STR(host_log, "");
    free_batch(&out);
}

static void no_config_changes_nothing(void) {
    CHECK(run_init("{}") == NULL);
    rec_in records[] = {{"a", "app=web", "t=x"}};
    log_transform_log_batch_t out;
    CHECK(run_process(records, 1, &out) == NULL);
    CHECK_STR(out_labels(&out, 0), "app=web");
    free_batch(&out);
}

static void config_errors(void) {
    CHECK_STR(run_init("{\"lables\": {}}"),
              "unknown config key `lables` (known: `labels`, `from_metadata`, "
              "`max_values_per_label`)");
    CHECK_STR(run_init("{\"labels\": {\"bad-name\": \"x\"}}"),
              "`bad-name` is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    CHECK_STR(run_init("{\"labels\": {\"env\": 1}}"), "`labels` must be a table of strings");
    CHECK_STR(run_init("{\"from_metadata\": []}"), "`from_metadata` must be a table of strings");
    CHECK_STR(run_init("{\"max_values_per_label\": -1}"),
              "`max_values_per_label` must be a non-negative integer");
    CHECK_STR(run_init("{\"max_values_per_label\": 1.5}"),
              "`max_values_per_label` must be a non-negative integer");
}

int main(void) {
    static const test_case tests[] = {
        {"statics_and_lifts", statics_and_lifts},
        {"no_config_changes_nothing", no_config_changes_nothing},
        {"config_errors", config_errors},
    };
    return run_tests("c enrich", tests, sizeof tests / sizeof tests[0]);
}
