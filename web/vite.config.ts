import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const root = fileURLToPath(new URL('.', import.meta.url))

/**
 * The console build: web/ → dist/web, served by the gateway (server/http/console-assets.ts).
 * Preact's automatic JSX runtime through Oxc (Vite 8's transformer; its `esbuild` option is deprecated).
 */
export default defineConfig({
  root,
  base: '/',
  publicDir: 'public',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npx vite --config web/vite.config.ts` for UI work against a gateway on :8080.
    proxy: { '/api': { target: 'http://localhost:8080', ws: true } },
  },
})
