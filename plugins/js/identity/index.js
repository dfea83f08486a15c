// js-identity: returns every batch unchanged, through the record view.
//
// It exists to measure what a JavaScript plugin costs before it does any work: the boundary
// copy plus `sluice_records` decoding the columns into records and building them again
// (compare the Rust `identity` plugin). Config: none.

import { exportPlugin } from "../sluice_records.js";

export class Identity {
  process() {}
}

export const { init, process } = exportPlugin(Identity);
