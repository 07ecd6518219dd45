import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { buildInfo } from "./build-info.ts";

const root = fileURLToPath(new URL(".", import.meta.url));

// Built into the Python package: the gateway serves it at /app (src/chainflow/gateway/webapp.py).
export default defineConfig({
  base: "/app/",
  plugins: [react(), buildInfo(root)],
  build: {
    outDir: fileURLToPath(new URL("../src/chainflow/gateway/webapp", import.meta.url)),
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 400,
    // Libraries in their own chunk: an app release leaves the browser's cached copy valid.
    rolldownOptions: {
      output: {
        codeSplitting: { groups: [{ name: "vendor", test: /node_modules/ }] },
      },
    },
  },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/ws": { target: "ws://127.0.0.1:8000", ws: true },
    },
  },
});
