/**
 * The build manifest `build-info.json`: a hash of the web app's sources (so that a Python
 * test can tell whether the committed build is up to date with `web/`) and the size of
 * every built file, raw and gzipped (the first-load JavaScript budget).
 *
 * The hash must match `tests/gateway/test_webapp.py::source_hash`: SHA-256 over the files
 * below in sorted POSIX path order, each as `path\n`, `byte length\n`, then its bytes.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { gzipSync } from "node:zlib";
import type { Plugin } from "vite";

export const HASHED_FILES = [
  "index.html",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "vite.config.ts",
  "build-info.ts",
];
export const HASHED_DIRS = ["src", "public"];

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

export function sourceHash(root: string): string {
  const files = [
    ...HASHED_FILES.map((name) => join(root, name)).filter((p) => existsSync(p)),
    ...HASHED_DIRS.flatMap((dir) => walk(join(root, dir))),
  ];
  const entries = files
    .map((path) => ({ path, rel: relative(root, path).split(sep).join("/") }))
    .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const hash = createHash("sha256");
  for (const { path, rel } of entries) {
    const bytes = readFileSync(path);
    hash.update(`${rel}\n${bytes.length}\n`);
    hash.update(bytes);
  }
  return hash.digest("hex");
}

export function buildInfo(root: string): Plugin {
  let outDir = "";
  const initial = new Set<string>();
  return {
    name: "chainflow-build-info",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type === "chunk" && chunk.isEntry) {
          initial.add(chunk.fileName);
          chunk.imports.forEach((name) => initial.add(name));
        }
      }
    },
    closeBundle() {
      const files: Record<string, { bytes: number; gzip_bytes: number }> = {};
      for (const path of walk(outDir).sort()) {
        const rel = relative(outDir, path).split(sep).join("/");
        if (rel === "build-info.json") continue;
        const bytes = readFileSync(path);
        files[rel] = { bytes: bytes.length, gzip_bytes: gzipSync(bytes, { level: 9 }).length };
      }
      const initialJs = [...initial].sort();
      const info = {
        source_hash: sourceHash(root),
        initial_js: initialJs,
        initial_js_gzip_bytes: initialJs.reduce((sum, name) => sum + (files[name]?.gzip_bytes ?? 0), 0),
        files,
      };
      writeFileSync(join(outDir, "build-info.json"), JSON.stringify(info, null, 2) + "\n");
    },
  };
}
