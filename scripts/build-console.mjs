#!/usr/bin/env node
// Builds the operator's console (console/src) into console/dist, the Workers Static Assets
// directory of wrangler.toml: dist/console/{index.html,app.js,app.css} served at /console/,
// dist/_headers (the CSP). Then measures it: every file gzipped (level 9), summed, against the
// 60 KiB budget; over budget fails the build. `--check` only measures an existing dist.
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SRC = path.join(ROOT, "console/src");
const DIST = path.join(ROOT, "console/dist");
const OUT = path.join(DIST, "console");
const BUDGET = 60 * 1024;

if (!process.argv.includes("--check")) {
  fs.rmSync(DIST, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  await build({
    entryPoints: { app: path.join(SRC, "main.js") },
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2020",
    outdir: OUT,
    legalComments: "none",
    logLevel: "warning",
  });
  await build({ entryPoints: { app: path.join(SRC, "app.css") }, bundle: true, minify: true, outdir: OUT, logLevel: "warning" });
  fs.copyFileSync(path.join(SRC, "index.html"), path.join(OUT, "index.html"));
  fs.copyFileSync(path.join(SRC, "_headers"), path.join(DIST, "_headers"));
}

const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else files.push(p);
  }
})(DIST);
let raw = 0;
let gz = 0;
for (const f of files.sort()) {
  const bytes = fs.readFileSync(f);
  const z = gzipSync(bytes, { level: 9 }).length;
  raw += bytes.length;
  gz += z;
  console.log(`  ${path.relative(DIST, f).padEnd(22)} ${String(bytes.length).padStart(7)} B  ${String(z).padStart(6)} B gzipped`);
}
const kib = (n) => (n / 1024).toFixed(1) + " KiB";
console.log(`console: ${files.length} files, ${kib(raw)}, ${kib(gz)} gzipped (budget ${kib(BUDGET)})`);
if (gz >= BUDGET) {
  console.error(`console over budget: ${kib(gz)} gzipped >= ${kib(BUDGET)}`);
  process.exit(1);
}
