// js-redact: masks e-mail addresses and IPv4 addresses in every line, like redact-pii's
// default `mask` mode (`<email>`, `<ipv4>`).
//
// Config (unknown keys are init errors):
// - `rules`: list of rule names to apply, from `email` and `ipv4` (default both).
//
// When the pipeline declares a counter `redactions_total` (one label, the rule), it counts
// the values masked per rule.

import { checkKeys, counterAdd, exportPlugin, metricId, PluginError } from "../sluice_records.js";

const RULES = {
  email:
    /(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])/g,
  // Four decimal octets 0-255, not part of a longer dotted number (`1.2.3.4.5`).
  ipv4: /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)/g,
};

export class Redact {
  constructor(config) {
    checkKeys(config, ["rules"]);
    const names = config.rules ?? Object.keys(RULES);
    if (!Array.isArray(names)) throw new PluginError("`rules` must be a list of rule names");
    this.rules = names.map((name) => {
      if (!(name in RULES)) {
        throw new PluginError(`unknown rule \`${name}\` in \`rules\` (known: email, ipv4)`);
      }
      return [name, RULES[name], `<${name}>`];
    });
    this.metric = metricId("redactions_total");
  }

  process(batch) {
    const counts = new Map(this.rules.map(([name]) => [name, 0]));
    for (const record of batch) {
      let line = record.line;
      for (const [name, pattern, mask] of this.rules) {
        let n = 0;
        line = line.replace(pattern, () => {
          n++;
          return mask;
        });
        if (n) counts.set(name, counts.get(name) + n);
      }
      record.line = line;
    }
    if (this.metric !== undefined) {
      for (const [name, n] of counts) if (n) counterAdd(this.metric, [name], n);
    }
  }
}

export const { init, process } = exportPlugin(Redact);
