/* test_redact.c: plugins/c/redact natively, through the real exports; the cases of
 * plugins/python/test_plugins.py plus the regex corners the matchers reproduce. */
#include <string.h>

#include "harness.h"
#include "sluice_records.h"

const char *declared_metrics[] = {"redactions_total", NULL};

/* Runs `line` through the plugin (already initialised) and returns the output line. */
static const char *redact(const char *line) {
    static char buf[4096];
    rec_in record = {line, "app=web", ""};
    log_transform_log_batch_t out;
    const char *err = run_process(&record, 1, &out);
    if (err) return err;
    strncpy(buf, out_line(&out, 0), sizeof buf - 1);
    free_batch(&out);
    return buf;
}

static void masks_like_python(void) {
    CHECK(run_init("{}") == NULL);
    CHECK_STR(redact("login ok for alice.smith@example.com from 192.168.10.7"),
              "login ok for <email> from <ipv4>");
    CHECK_STR(redact("slow response for Bob+billing@Mail.Example.org from 10.0.0.255:8080"),
              "slow response for <email> from <ipv4>:8080");
    CHECK_STR(redact("version 1.2.3.4.5 and not-an-ip 999.1.1.1"),
              "version 1.2.3.4.5 and not-an-ip 999.1.1.1");
    CHECK_STR(redact("héllo wörld ünïcode user@example.com → 8.8.8.8 ✓"),
              "héllo wörld ünïcode <email> → <ipv4> ✓");
}

static void regex_corners(void) {
    CHECK(run_init("{}") == NULL);
    /* The last all-letter label the greedy domain can backtrack to. */
    CHECK_STR(redact("a@b.com.x1 a@b.co1"), "<email>.x1 a@b.co1");
    CHECK_STR(redact("a@b.com_x a@b.com-x a@b.com."), "a@b.com_x a@b.com-x <email>.");
    /* The local part is the whole run before `@`. */
    CHECK_STR(redact("x.a@b.com _a@b.com %a@b.com"), "<email> <email> <email>");
    /* ASCII classes: é is no word character here (as in the JS version and redact-pii);
     * Python's Unicode `\w` would give "é%<email>". */
    CHECK_STR(redact("+a@b.com é%a@b.com"), "<email> é<email>");
    CHECK_STR(redact("a@b@c.com"), "a@<email>");
    /* Octets: the first alternative that lets the rest match. */
    CHECK_STR(redact("250.1.1.1 256.1.1.1 1.2.3.04 01.2.3.4"),
              "<ipv4> 256.1.1.1 1.2.3.04 01.2.3.4");
    CHECK_STR(redact("1.2.3.456 1.2.3.4.5 a1.2.3.4"), "1.2.3.456 1.2.3.4.5 a<ipv4>");
    CHECK_STR(redact("1.2.3.4. 1.2.3.4.x 1.2.3.45 x1.2.3.4"), "<ipv4>. <ipv4>.x <ipv4> x<ipv4>");
}

static void rules_and_metrics(void) {
    CHECK(run_init("{\"rules\": [\"ipv4\"]}") == NULL);
    CHECK_STR(redact("a@b.com 1.2.3.4"), "a@b.com <ipv4>");
    CHECK(run_init("{}") == NULL);
    counter_log[0] = 0;
    rec_in records[] = {{"mail a@b.example.com and c@d.example.org", "", ""}, {"ip 10.1.1.1", "", ""}};
    log_transform_log_batch_t out;
    CHECK(run_process(records, 2, &out) == NULL);
    free_batch(&out);
    CHECK_STR(counter_log, "redactions_total{email} 2\nredactions_total{ipv4} 1\n");
}

static void config_errors(void) {
    CHECK_STR(run_init("{\"rulez\": []}"), "unknown config key `rulez` (known: `rules`)");
    CHECK_STR(run_init("{\"rules\": \"email\"}"), "`rules` must be a list of rule names");
    CHECK_STR(run_init("{\"rules\": [\"phone\"]}"),
              "unknown rule `phone` in `rules` (known: email, ipv4)");
}

int main(void) {
    static const test_case tests[] = {
        {"masks_like_python", masks_like_python},
        {"regex_corners", regex_corners},
        {"rules_and_metrics", rules_and_metrics},
        {"config_errors", config_errors},
    };
    return run_tests("c redact", tests, sizeof tests / sizeof tests[0]);
}
