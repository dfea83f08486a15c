/* c-redact: masks e-mail addresses and IPv4 addresses in every line, like redact-pii's
 * default `mask` mode (`<email>`, `<ipv4>`); the C twin of plugins/python/redact/app.py.
 *
 * Config (unknown keys are init errors):
 *
 * - `rules`: list of rule names to apply, in order, from `email` and `ipv4` (default both).
 *
 * When the pipeline declares a counter `redactions_total` (one label, the rule), it counts
 * the values masked per rule.
 *
 * The matchers below do what the Python version's regular expressions do, backtracking
 * included (leftmost match, then continue after it), with ASCII classes for `\w` and `\d`
 * as in the JavaScript version and redact-pii:
 *
 *   email: (?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])
 *   ipv4:  (?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}
 *          (?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)
 */
#include <stdlib.h>
#include <string.h>

#include "sluice_records.h"

typedef bool (*matcher)(const char *b, size_t n, size_t at, size_t *end);

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_word(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }
/* [A-Za-z0-9._%+-]: the local part of an address. */
static bool is_local(char c) {
    return is_alpha(c) || is_digit(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
/* [A-Za-z0-9-]: a domain label. */
static bool is_domain(char c) { return is_alpha(c) || is_digit(c) || c == '-'; }

/* An address starting at `s`. The local part is the whole run of local characters (it must
 * end at `@`); the domain is dot-separated labels, the last one matched being the last
 * label that is all letters (2 or more) and not followed by [\w-], as the regex's greedy
 * `(?:\.label)*` backtracks to. */
static bool email_at(const char *b, size_t n, size_t s, size_t *end) {
    if (!is_local(b[s])) return false;
    if (s > 0 && (is_word(b[s - 1]) || b[s - 1] == '.' || b[s - 1] == '+' || b[s - 1] == '-'))
        return false;
    size_t j = s;
    while (j < n && is_local(b[j])) j++;
    if (j == n || b[j] != '@') return false;
    size_t q = j + 1;
    size_t label_start = q;
    while (q < n && is_domain(b[q])) q++;
    if (q == label_start) return false;
    bool found = false;
    while (q + 1 < n && b[q] == '.' && is_domain(b[q + 1])) {
        label_start = q + 1;
        q = label_start;
        bool letters = true;
        for (; q < n && is_domain(b[q]); q++) {
            if (!is_alpha(b[q])) letters = false;
        }
        if (letters && q - label_start >= 2 && (q == n || !(is_word(b[q]) || b[q] == '-'))) {
            *end = q;
            found = true;
        }
    }
    return found;
}

/* The ends an octet starting at `p` can have, in the order the regex tries them. */
static size_t octet_ends(const char *b, size_t n, size_t p, size_t ends[5]) {
    size_t k = 0;
    char c0 = p < n ? b[p] : 0, c1 = p + 1 < n ? b[p + 1] : 0, c2 = p + 2 < n ? b[p + 2] : 0;
    if (c0 == '2' && c1 == '5' && c2 >= '0' && c2 <= '5') ends[k++] = p + 3;
    if (c0 == '2' && c1 >= '0' && c1 <= '4' && is_digit(c2)) ends[k++] = p + 3;
    if (c0 == '1' && is_digit(c1) && is_digit(c2)) ends[k++] = p + 3;
    if (c0 >= '1' && c0 <= '9' && is_digit(c1)) ends[k++] = p + 2;
    if (is_digit(c0)) ends[k++] = p + 1;
    return k;
}

/* `left` more octets from `p`, the first success in the regex's order. */
static bool octets(const char *b, size_t n, size_t p, int left, size_t *end) {
    size_t ends[5];
    size_t k = octet_ends(b, n, p, ends);
    for (size_t i = 0; i < k; i++) {
        size_t e = ends[i];
        if (left > 1) {
            if (e < n && b[e] == '.' && octets(b, n, e + 1, left - 1, end)) return true;
        } else if (!(e < n && is_digit(b[e])) &&
                   !(e + 1 < n && b[e] == '.' && is_digit(b[e + 1]))) {
            *end = e;
            return true;
        }
    }
    return false;
}

static bool ipv4_at(const char *b, size_t n, size_t s, size_t *end) {
    if (!is_digit(b[s])) return false;
    if (s > 0 && (is_digit(b[s - 1]) || b[s - 1] == '.')) return false;
    return octets(b, n, s, 4, end);
}

typedef struct rule {
    const char *name;
    const char *mask;
    matcher match;
} rule;

static const rule RULES[] = {
    {"email", "<email>", email_at},
    {"ipv4", "<ipv4>", ipv4_at},
};
#define N_RULES (sizeof RULES / sizeof RULES[0])

/* The rules to apply, in order (a name may repeat, as in the Python version). */
static const rule **rules;
static size_t n_rules;
static bool has_metric;
static uint32_t metric;
static sr_buf out;

bool sr_plugin_init(const sr_json *config) {
    static const char *const keys[] = {"rules"};
    free(rules); /* a second init (tests) starts afresh */
    rules = NULL;
    n_rules = 0;
    if (!sr_check_keys(config, keys, 1)) return false;
    const sr_json *names = sr_json_get(config, "rules");
    if (!names) {
        n_rules = N_RULES;
        rules = malloc(N_RULES * sizeof *rules);
        for (size_t i = 0; i < N_RULES; i++) rules[i] = &RULES[i];
    } else {
        if (sr_json_type(names) != SR_JSON_ARRAY)
            return sr_error("`rules` must be a list of rule names");
        n_rules = sr_json_len(names);
        rules = malloc(n_rules * sizeof *rules + 1);
        for (size_t i = 0; i < n_rules; i++) {
            const sr_json *name = sr_json_at(names, i);
            sr_str s = sr_json_str(name);
            const rule *found = NULL;
            for (size_t r = 0; r < N_RULES && sr_json_type(name) == SR_JSON_STRING; r++) {
                if (sr_str_eq(s, sr_cstr(RULES[r].name))) found = &RULES[r];
            }
            if (!found)
                return sr_error("unknown rule `%.*s` in `rules` (known: email, ipv4)", (int)s.len,
                                s.ptr);
            rules[i] = found;
        }
    }
    has_metric = sr_metric_id("redactions_total", &metric);
    return true;
}

/* `line` with every match of `rule` masked into `out`; the number of matches. */
static size_t mask_all(const rule *rule, sr_str line) {
    size_t count = 0, at = 0, i = 0, end;
    out.len = 0;
    while (i < line.len) {
        if (rule->match(line.ptr, line.len, i, &end)) {
            sr_buf_push(&out, line.ptr + at, i - at);
            sr_buf_push_str(&out, sr_cstr(rule->mask));
            count++;
            at = i = end;
        } else {
            i++;
        }
    }
    if (count) sr_buf_push(&out, line.ptr + at, line.len - at);
    return count;
}

bool sr_plugin_process(sr_batch *batch) {
    size_t counts[N_RULES] = {0};
    for (size_t i = 0; i < sr_batch_len(batch); i++) {
        sr_record *record = sr_batch_record(batch, i);
        for (size_t r = 0; r < n_rules; r++) {
            size_t n = mask_all(rules[r], sr_record_line(record));
            if (n) {
                counts[rules[r] - RULES] += n;
                sr_record_set_line(record, sr_buf_str(&out));
            }
        }
    }
    if (has_metric) {
        /* Per rule, in the order the config first names it. */
        for (size_t r = 0; r < n_rules; r++) {
            size_t k = (size_t)(rules[r] - RULES);
            if (!counts[k]) continue;
            sr_str label = sr_cstr(RULES[k].name);
            sr_counter_add(metric, &label, 1, (double)counts[k], NULL);
            counts[k] = 0;
        }
    }
    return true;
}
