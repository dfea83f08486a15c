"""py-enrich: adds static labels and lifts metadata values into labels, like the Rust
`enrich` plugin.

Config (unknown keys are init errors):

- `labels`: table `{name = "value", ...}` set on every record, replacing a label of the
  same name. Applied once per distinct label set.
- `from_metadata`: table `{label_name = "metadata_key", ...}`: a record whose metadata has
  the key gets that label with its value (after `labels`, so it wins).
- `max_values_per_label` (default 100): once a lifted label has seen this many distinct
  values, new ones become `__overflow__` (counted in `enrich_overflow_total` when declared,
  logged once per label).
"""

import re

import sluice_records as sr

OVERFLOW = "__overflow__"
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


class Enrich:
    def __init__(self, config):
        sr.check_keys(config, ["labels", "from_metadata", "max_values_per_label"])
        self.statics = sr.get_str_map(config, "labels")
        self.lifts = sr.get_str_map(config, "from_metadata")
        for name in list(self.statics) + list(self.lifts):
            if not LABEL_NAME.match(name):
                raise sr.PluginError(
                    f"`{name}` is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"
                )
        self.max_values = config.get("max_values_per_label", 100)
        if not isinstance(self.max_values, int) or self.max_values < 0:
            raise sr.PluginError("`max_values_per_label` must be a non-negative integer")
        self.seen = {label: set() for label in self.lifts}
        self.warned = set()
        self.metric = sr.metric_id("enrich_overflow_total")

    def process(self, batch):
        if self.statics:
            batch.map_label_sets(lambda labels: labels.update(self.statics))
        for label, key in self.lifts.items():
            seen = self.seen[label]
            overflowed = 0
            for record in batch:
                value = record.meta(key)
                if value is None:
                    continue
                if value not in seen:
                    if len(seen) < self.max_values:
                        seen.add(value)
                    else:
                        value = OVERFLOW
                        overflowed += 1
                record.set_label(label, value)
            if overflowed:
                if self.metric is not None:
                    sr.counter_add(self.metric, [label], overflowed)
                if label not in self.warned:
                    self.warned.add(label)
                    sr.log(
                        sr.Level.WARN,
                        f"label `{label}` (from metadata `{key}`) reached "
                        f"max_values_per_label = {self.max_values}: further new values "
                        f"become `{OVERFLOW}`",
                    )


WitWorld = sr.export(Enrich)
