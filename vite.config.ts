import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The web app lives in web/ and is served by the nsconsole server from dist/web. In dev (`npx vite`), API and
// WebSocket calls are proxied to a server started separately (`npm start`, default 127.0.0.1:4280); open
// http://127.0.0.1:4280/?token=… once so the auth cookie exists, then use the dev server.
const backend = process.env.NSCONSOLE_DEV_BACKEND ?? 'http://127.0.0.1:4280';
/**
 * The xterm chunk (xterm + its WebGL, search, fit, unicode and links addons) is ~505 kB minified, ~128 kB gzip,
 * and cached apart from the app. Vite's default limit (500 kB) would print a warning before `npm start`'s one
 * contract line on every fresh build; 800 kB leaves room for an xterm upgrade and still flags a real blow-up.
 */
const CHUNK_SIZE_WARNING_KB = 800;

export default defineConfig({
  root: 'web',
  base: '/',
  plugins: [svelte({ configFile: fileURLToPath(new URL('./svelte.config.js', import.meta.url)) })],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    chunkSizeWarningLimit: CHUNK_SIZE_WARNING_KB,
    rolldownOptions: {
      // Rolldown warns when plugins take "significant time": on a loaded machine (CI, 2 cores) the Svelte compile
      // always does, and that advice would print before `npm start`'s one contract line. Real warnings stay on.
      checks: { bundlerTimings: false },
      output: {
        // xterm and its addons change less often than the app: a separate, long-cacheable chunk.
        codeSplitting: { groups: [{ name: 'xterm', test: /node_modules[\\/]@xterm/ }] },
      },
    },
  },
  server: {
    proxy: {
      '/api': { target: backend, changeOrigin: false },
      '/ws': { target: backend, ws: true, changeOrigin: false },
    },
  },
});
