// The CommonJS build for require() users: dist/cjs/index.js, one module
// with the runtime dependencies left to require() (they ship CommonJS
// too), dist/cjs/package.json marking the directory CommonJS, and the type
// declarations beside it (copied from dist/, where tsc wrote the ES module
// ones), so `require("@event-grpc/client")` is typed as well.
import { build } from "esbuild";
import { cpSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dist = new URL("../dist", import.meta.url).pathname;
const out = join(dist, "cjs");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [new URL("../src/index.ts", import.meta.url).pathname],
  bundle: true,
  packages: "external",
  format: "cjs",
  platform: "neutral",
  mainFields: ["module", "main"],
  target: "es2020",
  sourcemap: true,
  outfile: join(out, "index.js"),
  logLevel: "warning",
});
writeFileSync(join(out, "package.json"), JSON.stringify({ type: "commonjs" }) + "\n");
// The .d.ts tree, without the ES module .js files and the cjs directory itself.
const copyTypes = (from, to) => {
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    if (src === out) continue;
    if (statSync(src).isDirectory()) {
      mkdirSync(join(to, name), { recursive: true });
      copyTypes(src, join(to, name));
    } else if (name.endsWith(".d.ts")) {
      cpSync(src, join(to, name));
    }
  }
};
copyTypes(dist, out);
console.log(`cjs: ${join(out, "index.js")}`);
