import { existsSync } from 'node:fs'
import path from 'node:path'
import express, { type Request, type RequestHandler, type Response } from 'express'
import { packageRoot } from '../package-root.js'

/** Vite puts content-hashed files here; a changed file gets a new name, so they may be cached for good. */
const HASHED_PREFIX = '/assets/'

/** Paths the console never answers: the API (its 404s stay JSON) and the operational endpoints. */
const notConsole = /^\/(api|healthz|metrics)(\/|$)/

/** A host header we are willing to repeat in the CSP: name or [v6], optional port. */
const safeHost = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i

/**
 * Self only. Styles allow inline because xterm.js injects a <style> element for
 * its theme; scripts stay 'self'. connect-src names the page's own host for
 * ws:/wss: explicitly (the terminal), since 'self' covers WebSockets only in
 * CSP level 3 browsers.
 */
export function consoleCsp(host: string | undefined): string {
  const sockets = host && safeHost.test(host) ? ` ws://${host} wss://${host}` : ''
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src 'self'${sockets}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/** dist/web under the package root. */
export function defaultConsoleDir(): string {
  return path.join(packageRoot(), 'dist', 'web')
}

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Edgetainer console not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;background:#0f172a;color:#e2e8f0;display:grid;place-items:center;min-height:100vh;margin:0}
main{max-width:34rem;padding:2rem;background:#1e293b;border-radius:12px}code{background:#0f172a;padding:.15rem .4rem;border-radius:4px}</style></head>
<body><main><h1>The console has not been built</h1>
<p>This gateway is running and its API answers under <code>/api</code>, but the web console's files are missing.</p>
<p>Build them with <code>make build</code> (or <code>npx vite build --config web/vite.config.ts</code>) and reload this page.</p></main></body></html>`

/**
 * Serves the built console (dist/web) on the console host: hashed assets with a
 * year-long cache, index.html never cached (so a deploy is picked up at once),
 * and index.html for any other GET so the console's own paths survive a reload.
 */
export function createConsoleAssets(deps: { dir: string }): RequestHandler {
  const indexFile = path.join(deps.dir, 'index.html')
  const statics = express.static(deps.dir, {
    index: false,
    fallthrough: true,
    redirect: false,
    setHeaders(res, filePath) {
      const relative = '/' + path.relative(deps.dir, filePath).split(path.sep).join('/')
      res.setHeader('Cache-Control', relative.startsWith(HASHED_PREFIX) ? 'public, max-age=31536000, immutable' : 'no-cache')
    },
  })

  function sendIndex(req: Request, res: Response) {
    res.setHeader('Cache-Control', 'no-cache')
    res.setHeader('Content-Security-Policy', consoleCsp(req.get('host')))
    res.sendFile(indexFile)
  }

  return (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || notConsole.test(req.path)) return next()
    // Checked per request so a console built after the gateway started is served without a restart.
    if (!existsSync(indexFile)) {
      res.status(503).set({ 'Cache-Control': 'no-store', 'Retry-After': '60' }).type('html').send(notBuiltPage)
      return
    }
    if (req.path === '/' || req.path === '/index.html') return sendIndex(req, res)
    statics(req, res, () => {
      // A missing hashed asset is a stale page asking for an old build: a 404 tells it, index.html would not.
      if (req.path.startsWith(HASHED_PREFIX)) {
        res.status(404).set('Cache-Control', 'no-store').type('text').send('not found')
        return
      }
      sendIndex(req, res)
    })
  }
}
