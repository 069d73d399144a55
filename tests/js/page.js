// The one part of a page the dashboard's scripts read as they load: the tss-config <meta>
// element. Import this first. Its content is sample-config.json, which
// tests/dashboard/test_js_units.py checks against what the server writes.

import { readFileSync } from "node:fs";

export const sample = readFileSync(new URL("./sample-config.json", import.meta.url), "utf8");

globalThis.document = {
  querySelector: (selector) => (selector === 'meta[name="tss-config"]' ? { content: sample } : null),
};
