// Node unit tests of sluice_records.js and the JS plugins: `npm test` in plugins/js (no
// component needed; host functions fall back to stubs).
import test from "node:test";
import assert from "node:assert/strict";
import { Batch, replaceSpans, parseJson, PluginError } from "../sluice_records.js";
import { Redact } from "../redact/index.js";
import { Enrich, OVERFLOW } from "../enrich/index.js";

function columns() {
  return {
    lines: "héllo a@b.cdworld",
    lineEnds: new Uint32Array([7, 13, 18]),
    timestamps: new BigInt64Array([1n, 2n, 3n]),
    labelSets: [[["app", "web"]], [["app", "api"], ["env", "dev"]]],
    labelSetOf: new Uint32Array([0, 1, 0]),
    metadata: "trace_idt1k2v2",
    metadataEnds: new Uint32Array([8, 10, 12, 14]),
    recordMetadataEnds: new Uint32Array([1, 1, 2]),
  };
}

test("round trip keeps the columns", () => {
  const b = new Batch(columns());
  assert.deepEqual([...b].map((r) => r.line), ["héllo ", "a@b.cd", "world"]);
  assert.equal(b.get(1).label("env"), "dev");
  assert.equal(b.get(0).meta("trace_id"), "t1");
  const out = b.toLogBatch();
  assert.equal(out.lines, "héllo a@b.cdworld");
  assert.deepEqual([...out.lineEnds], [7, 13, 18]);
  assert.deepEqual([...out.labelSetOf], [0, 1, 0]);
  assert.deepEqual([...out.metadataEnds], [8, 10, 12, 14]);
  assert.deepEqual([...out.recordMetadataEnds], [1, 1, 2]);
});

test("edits rebuild valid columns", () => {
  const b = new Batch(columns());
  b.get(0).setLabel("env", "prod");
  b.get(1).removeLabel("env");
  b.get(2).setMeta("k2", "ü");
  b.retain((r) => r.timestamp !== 2n);
  b.push("new", 9n, { z: "1", a: "2" }, [["k", "v"]]);
  const out = b.toLogBatch();
  assert.deepEqual(out.labelSets[0], [["app", "web"], ["env", "prod"]]);
  assert.deepEqual(out.labelSets[out.labelSetOf[2]], [["a", "2"], ["z", "1"]]);
  assert.equal(out.metadata, "trace_idt1k2ükv");
  assert.deepEqual([...out.metadataEnds], [8, 10, 12, 14, 15, 16]);
  assert.deepEqual([...out.recordMetadataEnds], [1, 2, 3]);
  assert.deepEqual([...out.timestamps], [1n, 3n, 9n]);
});

test("helpers", () => {
  assert.equal(replaceSpans("abcdef", [[1, 2, "X"], [4, 6, ""]]), "aXcd");
  assert.deepEqual(parseJson('{"a":1}'), { a: 1 });
  assert.equal(parseJson("[1]"), undefined);
});

test("redact masks e-mails and IPv4", () => {
  const p = new Redact({});
  const b = new Batch();
  for (const line of [
    "login ok for alice.smith@example.com from 192.168.10.7",
    "slow response for Bob+billing@Mail.Example.org from 10.0.0.255:8080",
    "version 1.2.3.4.5 and not-an-ip 999.1.1.1",
  ]) b.push(line);
  p.process(b);
  assert.deepEqual([...b].map((r) => r.line), [
    "login ok for <email> from <ipv4>",
    "slow response for <email> from <ipv4>:8080",
    "version 1.2.3.4.5 and not-an-ip 999.1.1.1",
  ]);
  assert.throws(() => new Redact({ rulez: [] }), PluginError);
});

test("enrich adds labels and guards cardinality", () => {
  const p = new Enrich({ labels: { env: "prod" }, from_metadata: { tenant: "t" }, max_values_per_label: 1 });
  const b = new Batch();
  b.push("a", 0n, { app: "web", env: "dev" }, [["t", "x"]]);
  b.push("b", 0n, { app: "web", env: "dev" }, [["t", "y"]]);
  b.push("c", 0n, { app: "api" });
  p.process(b);
  assert.deepEqual(b.get(0).labels, { app: "web", env: "prod", tenant: "x" });
  assert.equal(b.get(1).label("tenant"), OVERFLOW);
  assert.deepEqual(b.get(2).labels, { app: "api", env: "prod" });
  for (const bad of [{ lables: {} }, { labels: { "bad-name": "x" } }, { labels: { env: 1 } }]) {
    assert.throws(() => new Enrich(bad), PluginError);
  }
});
