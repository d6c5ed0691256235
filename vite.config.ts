import { fileURLToPath } from 'node:url';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The web app lives in web/ and is served by the nsconsole server from dist/web. In dev (`npx vite`), API and
// WebSocket calls are proxied to a server started separately (`npm start`, default 127.0.0.1:4280); open
// http://127.0.0.1:4280/?token=… once so the auth cookie exists, then use the dev server.
const backend = process.env.NSCONSOLE_DEV_BACKEND ?? 'http://127.0.0.1:4280';
/**
 * No chunk of the first load may reach 500 kB (issue #11): the biggest, xterm with the addons the first screen
 * uses, is ~360 kB minified (~90 kB gzip). Vite's warning at this size flags a regression at build time.
 */
const CHUNK_SIZE_WARNING_KB = 500;
/**
 * The addons the first screen needs, in the long-cached xterm chunk. The WebGL and search addons are not in
 * it: the app imports them on demand (web/src/terminal/xtermSetup.ts), each as a chunk of its own.
 */
const FIRST_SCREEN_XTERM = /node_modules[\\/]@xterm[\\/](xterm|addon-fit|addon-unicode11|addon-web-links)[\\/]/;

/** Below this a file fits in a packet or two either way: not worth a compressed copy. */
const PRECOMPRESS_MIN_BYTES = 1024;
/** What the server can send compressed; source maps (~2 MB, fetched only by devtools) get gzip only. */
const COMPRESSIBLE = /\.(js|css|html|svg|json|map)$/;
const BROTLI_WORTHY = /\.(js|css|html|svg|json)$/;

/**
 * Writes a Brotli (.br, quality 11) and a gzip (.gz, level 9) copy beside every compressible output file, once
 * at build time; the server (server/http/static-files.ts) sends the one the browser accepts. Brotli at 11 takes
 * ~1 s for the app's code here: too slow per request, little per build (with the source maps it took ~15 s,
 * hence gzip only for those).
 */
function precompress(): Plugin {
  const br = promisify(brotliCompress);
  const gz = promisify(gzip);
  return {
    name: 'nsconsole-precompress',
    apply: 'build',
    async writeBundle(options, bundle) {
      const dir = options.dir ?? '';
      await Promise.all(
        Object.values(bundle).map(async (out) => {
          if (!COMPRESSIBLE.test(out.fileName)) return;
          const data = out.type === 'chunk' ? Buffer.from(out.code) : Buffer.from(out.source);
          if (data.length < PRECOMPRESS_MIN_BYTES) return;
          const file = path.join(dir, out.fileName);
          await Promise.all([
            BROTLI_WORTHY.test(out.fileName) &&
              br(data, {
                params: {
                  [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY,
                  [zlib.BROTLI_PARAM_SIZE_HINT]: data.length,
                },
              }).then((c) => writeFile(file + '.br', c)),
            gz(data, { level: zlib.Z_BEST_COMPRESSION }).then((c) => writeFile(file + '.gz', c)),
          ]);
        }),
      );
    },
  };
}

export default defineConfig({
  root: 'web',
  base: '/',
  plugins: [svelte({ configFile: fileURLToPath(new URL('./svelte.config.js', import.meta.url)) }), precompress()],
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
        codeSplitting: { groups: [{ name: 'xterm', test: FIRST_SCREEN_XTERM }] },
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
