import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import express from 'express'
import t from 'tap'
import { consoleCsp, createConsoleAssets } from '../../server/http/console-assets.js'

/** The console handler in front of a stand-in API answer, as create-http-app mounts it (`before` the API). */
async function serve(t: { teardown(fn: () => Promise<void>): void }, dir: string) {
  const app = express()
  app.use(createConsoleAssets({ dir }))
  app.use((_req, res) => void res.status(418).json({ code: 'REACHED_THE_API' }))
  const server = http.createServer(app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

t.test('console assets: not built, then built', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-web-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const base = await serve(t, dir)

  const missing = await fetch(`${base}/devices`)
  t.equal(missing.status, 503, 'a gateway without a console build says so')
  t.match(await missing.text(), /The console has not been built[\s\S]*make build/)
  t.equal((await fetch(`${base}/api/fleets`)).status, 418, 'the API is untouched')

  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="/assets/index-abc123.js"></script>')
  mkdirSync(path.join(dir, 'assets'))
  writeFileSync(path.join(dir, 'assets', 'index-abc123.js'), 'console.log(1)')
  writeFileSync(path.join(dir, 'favicon.svg'), '<svg/>')

  const index = await fetch(`${base}/`)
  const host = new URL(base).host
  t.equal(index.status, 200, 'built later, served without a restart')
  t.equal(index.headers.get('cache-control'), 'no-cache', 'index.html is revalidated every time')
  t.equal(
    index.headers.get('content-security-policy'),
    `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws://${host} wss://${host}; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`,
    "self only; the terminal WebSocket on the page's own host",
  )
  const deep = await fetch(`${base}/fleets/3f0e/env?x=1`)
  t.equal(deep.status, 200)
  t.match(await deep.text(), /index-abc123\.js/, 'console paths get index.html')
  const script = await fetch(`${base}/assets/index-abc123.js`)
  t.equal(script.headers.get('cache-control'), 'public, max-age=31536000, immutable', 'hashed assets are cached for good')
  t.match(script.headers.get('content-type'), /javascript/)
  t.equal((await fetch(`${base}/favicon.svg`)).headers.get('cache-control'), 'no-cache', 'unhashed files are revalidated')
  t.equal((await fetch(`${base}/assets/index-old999.js`)).status, 404, 'a stale asset is a 404, not index.html')
  t.equal((await fetch(`${base}/api/nope`)).status, 418, '/api paths never get index.html')
  t.equal((await fetch(`${base}/healthz`)).status, 418)
  t.equal((await fetch(`${base}/devices`, { method: 'POST' })).status, 418, 'only GET and HEAD are the console')
  t.notMatch(consoleCsp('a b"; script-src *'), /script-src \*/, 'a strange Host header never reaches the CSP')
  t.match(consoleCsp('[::1]:8080'), /connect-src 'self' ws:\/\/\[::1\]:8080 wss:\/\/\[::1\]:8080;/)
})
