/* test_records.c: the C record view (sluice_records.c) natively, through the real exports,
 * with a plugin whose process step each test sets; mirrors plugins/python/test_plugins.py. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sluice_records.h"

const char *declared_metrics[] = {"events_total", NULL};

static bool (*process_step)(sr_batch *batch);

bool sr_plugin_init(const sr_json *config) {
    static const char *const keys[] = {"labels"};
    sr_str_map labels;
    return sr_check_keys(config, keys, 1) && sr_get_str_map(config, "labels", &labels);
}

bool sr_plugin_process(sr_batch *batch) { return process_step ? process_step(batch) : true; }

/* The columns of plugins/python/test_plugins.py: lines "héllo ", "a@b.cd", "world". */
static const rec_in COLUMNS[] = {
    {"héllo ", "app=web", "trace_id=t1"},
    {"a@b.cd", "app=api,env=dev", ""},
    {"world", "app=web", "k2=v2"},
};

static void process_before_init(void) {
    log_transform_log_batch_t out;
    CHECK_STR(run_process(COLUMNS, 3, &out), "plugin not initialised: process called before init");
}

static void round_trip_keeps_columns(void) {
    CHECK(run_init("{}") == NULL);
    process_step = NULL;
    log_transform_log_batch_t out;
    CHECK(run_process(COLUMNS, 3, &out) == NULL);
    CHECK(out.lines.len == 18);
    uint32_t line_ends[] = {7, 13, 18}, set_of[] = {0, 1, 0}, meta_ends[] = {8, 10, 12, 14},
             rme[] = {1, 1, 2};
    CHECK(memcmp(out.line_ends.ptr, line_ends, sizeof line_ends) == 0); /* bytes: é is two */
    CHECK(memcmp(out.label_set_of.ptr, set_of, sizeof set_of) == 0);
    CHECK(memcmp(out.metadata_ends.ptr, meta_ends, sizeof meta_ends) == 0);
    CHECK(memcmp(out.record_metadata_ends.ptr, rme, sizeof rme) == 0);
    CHECK_STR(out_labels(&out, 1), "app=api,env=dev");
    free_batch(&out);
}

static void unsorted_input_sets_sorted(void) {
    static const rec_in records[] = {{"a", "env=dev,app=api", ""}, {"b", "", ""}};
    CHECK(run_init("{}") == NULL);
    process_step = NULL;
    log_transform_log_batch_t out;
    CHECK(run_process(records, 2, &out) == NULL);
    CHECK_STR(out_labels(&out, 0), "app=api,env=dev");
    CHECK_STR(out_labels(&out, 1), "");
    free_batch(&out);
}

static bool read_step(sr_batch *b) {
    CHECK(sr_batch_len(b) == 3);
    sr_str v;
    CHECK(sr_str_eq(sr_record_line(sr_batch_record(b, 0)), sr_cstr("héllo ")));
    CHECK(sr_record_label(sr_batch_record(b, 1), SR_LIT("env"), &v) && sr_str_eq(v, SR_LIT("dev")));
    CHECK(!sr_record_label(sr_batch_record(b, 0), SR_LIT("env"), &v));
    CHECK(sr_record_meta(sr_batch_record(b, 0), SR_LIT("trace_id"), &v) && sr_str_eq(v, SR_LIT("t1")));
    CHECK(sr_record_meta_len(sr_batch_record(b, 2)) == 1);
    CHECK(sr_str_eq(sr_record_meta_at(sr_batch_record(b, 2), 0).key, SR_LIT("k2")));
    CHECK(sr_record_timestamp(sr_batch_record(b, 2)) == 3);
    CHECK(sr_labels_len(sr_record_labels(sr_batch_record(b, 1))) == 2);
    return true;
}

static void reads(void) {
    CHECK(run_init("{}") == NULL);
    process_step = read_step;
    log_transform_log_batch_t out;
    CHECK(run_process(COLUMNS, 3, &out) == NULL);
    free_batch(&out);
}

static bool not_two(const sr_record *r, void *ctx) {
    (void)ctx;
    return sr_record_timestamp(r) != 2;
}

static bool edit_step(sr_batch *b) {
    sr_record_set_label(sr_batch_record(b, 0), SR_LIT("env"), SR_LIT("prod"));
    sr_record_remove_label(sr_batch_record(b, 1), SR_LIT("env"));
    sr_record_set_meta(sr_batch_record(b, 2), SR_LIT("k2"), sr_cstr("ü"));
    sr_record_remove_meta(sr_batch_record(b, 2), SR_LIT("nope"));
    sr_batch_retain(b, not_two, NULL);
    sr_record *r = sr_batch_push(b, SR_LIT("new"), 9);
    sr_record_set_label(r, SR_LIT("z"), SR_LIT("1"));
    sr_record_set_label(r, SR_LIT("a"), SR_LIT("2"));
    sr_record_set_meta(r, SR_LIT("k"), SR_LIT("v"));
    return true;
}

static void edits(void) {
    CHECK(run_init("{}") == NULL);
    process_step = edit_step;
    log_transform_log_batch_t out;
    CHECK(run_process(COLUMNS, 3, &out) == NULL);
    CHECK(check_batch(&out) == 3);
    CHECK_STR(out_labels(&out, 0), "app=web,env=prod");
    CHECK_STR(out_labels(&out, 1), "app=web");
    CHECK_STR(out_labels(&out, 2), "a=2,z=1");
    CHECK(out.metadata.len == strlen("trace_idt1k2ükv"));
    CHECK(memcmp(out.metadata.ptr, "trace_idt1k2ükv", out.metadata.len) == 0);
    uint32_t meta_ends[] = {8, 10, 12, 14, 15, 16}, rme[] = {1, 2, 3};
    CHECK(out.metadata_ends.len == 6 && memcmp(out.metadata_ends.ptr, meta_ends, sizeof meta_ends) == 0);
    CHECK(memcmp(out.record_metadata_ends.ptr, rme, sizeof rme) == 0);
    CHECK(out.timestamps.ptr[0] == 1 && out.timestamps.ptr[1] == 3 && out.timestamps.ptr[2] == 9);
    CHECK_STR(out_line(&out, 2), "new");
    free_batch(&out);
}

static int change_calls;

static void add_env(sr_labels *labels, void *ctx) {
    change_calls++;
    sr_labels_set(labels, SR_LIT("env"), *(const sr_str *)ctx);
}

static bool map_step(sr_batch *b) {
    sr_str env = SR_LIT("prod");
    sr_batch_map_label_sets(b, add_env, &env);
    return true;
}

static void map_label_sets_once_per_set(void) {
    CHECK(run_init("{}") == NULL);
    process_step = map_step;
    change_calls = 0;
    log_transform_log_batch_t out;
    CHECK(run_process(COLUMNS, 3, &out) == NULL);
    CHECK(change_calls == 2);
    CHECK(out.label_sets.len == 2);
    CHECK_STR(out_labels(&out, 0), "app=web,env=prod");
    CHECK_STR(out_labels(&out, 1), "app=api,env=prod");
    CHECK_STR(out_labels(&out, 2), "app=web,env=prod");
    free_batch(&out);
}

static bool same_labels_step(sr_batch *b) {
    /* Different edits ending in the same set: one output set. */
    sr_record_set_label(sr_batch_record(b, 1), SR_LIT("app"), SR_LIT("web"));
    sr_record_remove_label(sr_batch_record(b, 1), SR_LIT("env"));
    return true;
}

static void label_sets_interned(void) {
    CHECK(run_init("{}") == NULL);
    process_step = same_labels_step;
    log_transform_log_batch_t out;
    CHECK(run_process(COLUMNS, 3, &out) == NULL);
    CHECK(out.label_sets.len == 1);
    free_batch(&out);
}

static bool fail_step(sr_batch *b) {
    (void)b;
    return sr_error("bad record %d", 7);
}

static void errors(void) {
    CHECK_STR(run_init("{\"lables\": {}}"), "unknown config key `lables` (known: `labels`)");
    CHECK_STR(run_init("[]"), "config must be a table");
    CHECK_STR(run_init("{\"labels\": {\"a\": 1}}"), "`labels` must be a table of strings");
    CHECK(strncmp(run_init("{"), "config is not valid JSON", 24) == 0);
    CHECK(run_init("{\"labels\": {\"a\": \"b\"}}") == NULL);
    process_step = fail_step;
    log_transform_log_batch_t out;
    CHECK_STR(run_process(COLUMNS, 3, &out), "bad record 7");
    process_step = NULL;
    log_transform_log_batch_t bad = make_batch(COLUMNS, 3), result;
    log_transform_string_t err;
    bad.line_ends.ptr[1] = 100; /* past the end of `lines` */
    CHECK(!exports_log_transform_process(&bad, &result, &err));
    CHECK(err.len > 0 && memcmp(err.ptr, "invalid batch from the host", 27) == 0);
    free(err.ptr);
}

static void empty_batch(void) {
    CHECK(run_init("{}") == NULL);
    process_step = NULL;
    log_transform_log_batch_t out;
    CHECK(run_process(NULL, 0, &out) == NULL);
    CHECK(out.line_ends.len == 0 && out.label_sets.len == 0);
    free_batch(&out);
}

static void json(void) {
    sr_json *v = sr_json_parse(sr_cstr(
        " {\"a\": [1, -2.5e3, true, null], \"s\": \"x\\\"\\u00e9\\ud83d\\ude00\\n\", \"a\": 3} "));
    CHECK(v != NULL);
    if (!v) return;
    CHECK(sr_json_type(v) == SR_JSON_OBJECT && sr_json_len(v) == 3);
    const sr_json *a = sr_json_at(v, 0);
    CHECK(sr_json_type(a) == SR_JSON_ARRAY && sr_json_len(a) == 4);
    int64_t i;
    CHECK(sr_json_int(sr_json_at(a, 0), &i) && i == 1);
    CHECK(!sr_json_int(sr_json_at(a, 1), &i) && sr_json_number(sr_json_at(a, 1)) == -2500);
    CHECK(sr_json_bool(sr_json_at(a, 2)));
    CHECK(sr_json_type(sr_json_at(a, 3)) == SR_JSON_NULL);
    CHECK(sr_str_eq(sr_json_str(sr_json_get(v, "s")), sr_cstr("x\"é😀\n")));
    CHECK(sr_json_int(sr_json_get(v, "a"), &i) && i == 3); /* the last duplicate */
    CHECK(sr_str_eq(sr_json_raw(a), SR_LIT("[1, -2.5e3, true, null]")));
    sr_json_free(v);
    CHECK(sr_json_parse(SR_LIT("{\"a\":1,}")) == NULL);
    CHECK(sr_json_parse(SR_LIT("[1] x")) == NULL);
    CHECK(sr_json_parse(SR_LIT("\"\\x\"")) == NULL);
    CHECK(sr_json_parse(SR_LIT("01")) == NULL);
}

static bool json_step(sr_batch *b) {
    CHECK(sr_record_json(sr_batch_record(b, 0)) != NULL);
    CHECK(sr_record_json(sr_batch_record(b, 1)) == NULL);
    CHECK(sr_record_json(sr_batch_record(b, 2)) == NULL);
    const sr_json *j = sr_record_json(sr_batch_record(b, 0));
    CHECK(j && sr_str_eq(sr_json_str(sr_json_get(j, "msg")), SR_LIT("hi")));
    return true;
}

static void record_json(void) {
    static const rec_in lines[] = {{"{\"msg\":\"hi\"}", "", ""}, {"[1]", "", ""}, {"{oops", "", ""}};
    CHECK(run_init("{}") == NULL);
    process_step = json_step;
    log_transform_log_batch_t out;
    CHECK(run_process(lines, 3, &out) == NULL);
    free_batch(&out);
}

static bool metric_step(sr_batch *b) {
    uint32_t id;
    CHECK(!sr_metric_id("nope", &id));
    CHECK(sr_metric_id("events_total", &id));
    sr_str labels[] = {SR_LIT("a"), SR_LIT("b")};
    sr_counter_add(id, labels, 2, (double)sr_batch_len(b), NULL);
    sr_log(SR_WARN, "saw %zu records", sr_batch_len(b));
    return true;
}

static void host_functions(void) {
    CHECK(run_init("{}") == NULL);
    process_step = metric_step;
    log_transform_log_batch_t out;
    CHECK(run_process(COLUMNS, 3, &out) == NULL);
    CHECK_STR(counter_log, "events_total{a,b} 3\n");
    CHECK_STR(host_log, "3 saw 3 records\n");
    free_batch(&out);
}

int main(void) {
    static const test_case tests[] = {
        {"process_before_init", process_before_init},
        {"round_trip_keeps_columns", round_trip_keeps_columns},
        {"unsorted_input_sets_sorted", unsorted_input_sets_sorted},
        {"reads", reads},
        {"edits", edits},
        {"map_label_sets_once_per_set", map_label_sets_once_per_set},
        {"label_sets_interned", label_sets_interned},
        {"errors", errors},
        {"empty_batch", empty_batch},
        {"json", json},
        {"record_json", record_json},
        {"host_functions", host_functions},
    };
    return run_tests("c records", tests, sizeof tests / sizeof tests[0]);
}
