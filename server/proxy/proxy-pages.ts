import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { statusOf, type ErrorCode } from '../error-codes.js'

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function wantsHtml(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').includes('text/html')
}

/**
 * The proxy's own answers: a short page for browsers, `{error, code}` for API
 * clients. They name no other device and nothing about the gateway's insides.
 */
export function sendProxyError(req: IncomingMessage, res: ServerResponse, code: ErrorCode, message: string) {
  if (res.headersSent) return res.destroy()
  const status = statusOf(code)
  res.setHeader('Cache-Control', 'no-store')
  if (wantsHtml(req)) {
    const title = status === 404 ? 'Not found' : status === 401 ? 'Sign-in required' : 'Device unavailable'
    res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' })
    res.end(
      `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>` +
        `<style>body{font:16px system-ui,sans-serif;color:#1f2937;display:grid;place-items:center;height:90vh;margin:0}` +
        `main{max-width:32rem;text-align:center}h1{font-size:1.4rem}p{color:#6b7280}</style></head>` +
        `<body><main><h1>${status} · ${title}</h1><p>${escape(message)}</p><p><small>Edgetainer gateway</small></p></main></body></html>`,
    )
  } else {
    res.writeHead(status, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify({ error: message, code }))
  }
}

/** The same refusal for a WebSocket upgrade, which has no response object yet. */
export function refuseUpgrade(socket: Duplex, code: ErrorCode) {
  if (socket.destroyed || !socket.writable) return socket.destroy()
  socket.end(`HTTP/1.1 ${statusOf(code)} ${code}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/**
 * Where the hand-off landing may send a browser: a path on this same host.
 * Browsers read `\` as `/` and drop tabs and newlines, so `/\evil.example/`
 * or `/<TAB>/evil.example` would leave the host; anything like that is `/`.
 */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//')) return '/'
  if (/[\\\u0000-\u001f\u007f-\u009f]/.test(next)) return '/'
  return next
}
