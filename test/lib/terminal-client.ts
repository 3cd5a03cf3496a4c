import { WebSocket } from 'ws'
import type { TestGateway } from './test-gateway.js'

export interface Terminal {
  ws: WebSocket
  output(): string
  exit: Promise<{ type: string; code: number; reason: string }>
  send(text: string): void
}

/**
 * Opens the web terminal as the console does: the session cookie, the console's Origin, the
 * terminal wire protocol (binary frames for bytes, JSON text frames for control). `port`
 * defaults to the gateway's own HTTP port; pass another to go through something in between.
 */
export function openTerminal(gw: TestGateway, token: string, path: string, options: { origin?: string; port?: number } = {}): Promise<Terminal> {
  return new Promise((resolve, reject) => {
    const port = options.port ?? gw.server.httpPort
    // The console's exact origin: the gateway's own port, even when the socket goes through something in between.
    const origin = options.origin ?? `http://localhost:${gw.server.httpPort}`
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host: 'localhost', origin, cookie: `edgetainer_session=${token}` } })
    let output = ''
    let onExit: (m: { type: string; code: number; reason: string }) => void
    const exit = new Promise<{ type: string; code: number; reason: string }>((r) => (onExit = r))
    ws.on('message', (data, isBinary) => {
      if (isBinary) output += String(data)
      else {
        const message = JSON.parse(String(data))
        if (message.type === 'exit') onExit(message)
      }
    })
    ws.once('open', () => resolve({ ws, output: () => output, exit, send: (text) => ws.send(Buffer.from(text), { binary: true }) }))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.once('error', reject)
  })
}
