import test from "node:test";
import assert from "node:assert/strict";
import { Batch } from "./sluice_records.js";
import { MyPlugin } from "./index.js";

test("sets labels", () => {
  const plugin = new MyPlugin({ labels: { env: "prod" } });
  const batch = new Batch();
  batch.push("hello", 0n, { app: "web" });
  plugin.process(batch);
  assert.deepEqual(batch.get(0).labels, { app: "web", env: "prod" });
});
