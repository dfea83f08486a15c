// {{name}}: a sluice log-transform plugin in JavaScript.
//
// Build: `npm install && npm run build` -> {{name}}.wasm
// Try it: `sluice plugin test {{name}}.wasm --input sample.log`
// Test natively: `npm test`
//
// Config: `labels = { name = "value" }`, set on every record (an example to replace).

import { checkKeys, exportPlugin, getStrMap } from "./sluice_records.js";

export class MyPlugin {
  constructor(config) {
    checkKeys(config, ["labels"]);
    this.labels = Object.entries(getStrMap(config, "labels"));
  }

  process(batch) {
    for (const record of batch) {
      for (const [name, value] of this.labels) record.setLabel(name, value);
    }
  }
}

export const { init, process } = exportPlugin(MyPlugin);
