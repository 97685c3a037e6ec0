import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The API and the editor share one origin in production (`plait serve` serves `dist/` at `/`);
// in development Vite proxies the API and its WebSockets to a running `plait serve`.
const api = process.env.PLAIT_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/api": { target: api, changeOrigin: false, ws: true },
    },
  },
  build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 1200 },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
