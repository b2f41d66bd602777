// Bundles the SDK and its runtime dependencies into one ES module for
// browsers: dist/event-grpc.browser.js (+ .map). A page loads it with
//   <script type="module">import { createClient } from "/event-grpc.browser.js";</script>
import { build } from "esbuild";
import { statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";

const outfile = new URL("../dist/event-grpc.browser.js", import.meta.url).pathname;
await build({
  entryPoints: [new URL("../src/index.ts", import.meta.url).pathname],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  sourcemap: true,
  legalComments: "eof",
  outfile,
  logLevel: "warning",
});
const size = statSync(outfile).size;
const gz = gzipSync(readFileSync(outfile)).length;
console.log(`bundle: ${outfile} ${(size / 1024).toFixed(1)} KiB (${(gz / 1024).toFixed(1)} KiB gzip)`);
