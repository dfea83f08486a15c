"""py-redact: masks e-mail addresses and IPv4 addresses in every line, like redact-pii's
default `mask` mode (`<email>`, `<ipv4>`).

Config (unknown keys are init errors):

- `rules`: list of rule names to apply, from `email` and `ipv4` (default both).

When the pipeline declares a counter `redactions_total` (one label, the rule), it counts
the values masked per rule.
"""

import re

import sluice_records as sr

RULES = {
    "email": re.compile(
        r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
    ),
    # Four decimal octets 0-255, not part of a longer dotted number (`1.2.3.4.5`).
    "ipv4": re.compile(
        r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
        r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)"
    ),
}


class Redact:
    def __init__(self, config):
        sr.check_keys(config, ["rules"])
        names = config.get("rules", list(RULES))
        if not isinstance(names, list):
            raise sr.PluginError("`rules` must be a list of rule names")
        for name in names:
            if name not in RULES:
                raise sr.PluginError(f"unknown rule `{name}` in `rules` (known: email, ipv4)")
        self.rules = [(name, RULES[name], f"<{name}>") for name in names]
        self.metric = sr.metric_id("redactions_total")

    def process(self, batch):
        counts = dict.fromkeys((name for name, _, _ in self.rules), 0)
        for record in batch:
            line = record.line
            for name, pattern, mask in self.rules:
                line, n = pattern.subn(mask, line)
                counts[name] += n
            record.line = line
        if self.metric is not None:
            for name, n in counts.items():
                if n:
                    sr.counter_add(self.metric, [name], n)


WitWorld = sr.export(Redact)
