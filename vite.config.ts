import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The web app lives in web/ and is served by the nsconsole server from dist/web. In dev (`npx vite`), API and
// WebSocket calls are proxied to a server started separately (`npm start`, default 127.0.0.1:4280); open
// http://127.0.0.1:4280/?token=… once so the auth cookie exists, then use the dev server.
const backend = process.env.NSCONSOLE_DEV_BACKEND ?? 'http://127.0.0.1:4280';

export default defineConfig({
  root: 'web',
  base: '/',
  plugins: [svelte({ configFile: fileURLToPath(new URL('./svelte.config.js', import.meta.url)) })],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    rolldownOptions: {
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
