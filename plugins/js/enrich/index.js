// js-enrich: adds static labels and lifts metadata values into labels, like the Rust
// `enrich` plugin.
//
// Config (unknown keys are init errors):
// - `labels`: table `{name = "value", ...}` set on every record, replacing a label of the
//   same name. Applied once per distinct label set.
// - `from_metadata`: table `{label_name = "metadata_key", ...}`: a record whose metadata
//   has the key gets that label with its value (after `labels`, so it wins).
// - `max_values_per_label` (default 100): once a lifted label has seen this many distinct
//   values, new ones become `__overflow__` (counted in `enrich_overflow_total` when
//   declared, logged once per label).

import {
  checkKeys,
  counterAdd,
  exportPlugin,
  getStrMap,
  Level,
  log,
  metricId,
  PluginError,
} from "../sluice_records.js";

export const OVERFLOW = "__overflow__";
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class Enrich {
  constructor(config) {
    checkKeys(config, ["labels", "from_metadata", "max_values_per_label"]);
    this.statics = Object.entries(getStrMap(config, "labels"));
    this.lifts = Object.entries(getStrMap(config, "from_metadata"));
    for (const [name] of [...this.statics, ...this.lifts]) {
      if (!LABEL_NAME.test(name)) {
        throw new PluginError(`\`${name}\` is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)`);
      }
    }
    this.maxValues = config.max_values_per_label ?? 100;
    if (!Number.isInteger(this.maxValues) || this.maxValues < 0) {
      throw new PluginError("`max_values_per_label` must be a non-negative integer");
    }
    this.seen = new Map(this.lifts.map(([label]) => [label, new Set()]));
    this.warned = new Set();
    this.metric = metricId("enrich_overflow_total");
  }

  process(batch) {
    if (this.statics.length) {
      batch.mapLabelSets((labels) => {
        for (const [name, value] of this.statics) labels.set(name, value);
      });
    }
    for (const [label, key] of this.lifts) {
      const seen = this.seen.get(label);
      let overflowed = 0;
      for (const record of batch) {
        let value = record.meta(key);
        if (value === undefined) continue;
        if (!seen.has(value)) {
          if (seen.size < this.maxValues) {
            seen.add(value);
          } else {
            value = OVERFLOW;
            overflowed++;
          }
        }
        record.setLabel(label, value);
      }
      if (overflowed) {
        if (this.metric !== undefined) counterAdd(this.metric, [label], overflowed);
        if (!this.warned.has(label)) {
          this.warned.add(label);
          log(
            Level.warn,
            `label \`${label}\` (from metadata \`${key}\`) reached max_values_per_label = ` +
              `${this.maxValues}: further new values become \`${OVERFLOW}\``,
          );
        }
      }
    }
  }
}

export const { init, process } = exportPlugin(Enrich);
