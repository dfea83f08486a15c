// Builds a JavaScript plugin into a WebAssembly component with componentize-js:
//   node build.mjs PLUGIN_DIR OUT.wasm
// PLUGIN_DIR holds index.js exporting `init` and `process` (see sluice_records.js). The
// entry module written here wires the real host functions into sluice_records.js.
import { componentize } from "@bytecodealliance/componentize-js";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile, rm } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [pluginDir, outArg] = process.argv.slice(2);
if (!pluginDir || !outArg) {
  console.error("usage: node build.mjs PLUGIN_DIR OUT.wasm");
  process.exit(2);
}
// The contract: $SLUICE_WIT, else wit/sluice.wit beside this script (a plugin made by
// `sluice plugin new`), else the repository's.
const wit =
  process.env.SLUICE_WIT ??
  [resolve(here, "wit/sluice.wit"), resolve(here, "../../wit/sluice.wit")].find(existsSync);
// The host interface is imported under the contract's own version.
const version = /package\s+sluice:plugin@([0-9.]+)/.exec(await readFile(wit, "utf8"))?.[1];
if (!version) {
  console.error(`${wit}: no \`package sluice:plugin@X.Y.Z\` line`);
  process.exit(2);
}
const dir = resolve(pluginDir);
const out = resolve(outArg);
// componentize-js reads relative imports from the working directory: keep the entry
// beside the plugin so `../sluice_records.js` resolves as it does in Node.
const entry = join(dir, `.entry-${basename(dir)}.js`);
let records = relative(dir, resolve(here, "sluice_records.js")).replaceAll("\\", "/");
if (!records.startsWith(".")) records = `./${records}`;
await writeFile(
  entry,
  `import * as host from "sluice:plugin/host@${version}";
import { setHost } from "${records}";
setHost(host);
export { init, process } from "./index.js";
`,
);
try {
  process.chdir(dirname(here));
  const { component } = await componentize({
    sourcePath: entry,
    witPath: wit,
    worldName: "log-transform",
    disableFeatures: ["http", "fetch-event", "stdio", "random", "clocks"],
  });
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, component);
  console.log(`${outArg}: ${component.length} bytes`);
} finally {
  await rm(entry, { force: true });
}
