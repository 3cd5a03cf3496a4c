import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'

export interface TerminalSessionRecord {
  path: string
  cookie: string | undefined
  resizes: { cols: number; rows: number }[]
  input: string
}

export interface TerminalEchoServer {
  /** Port of the front: the console is loaded from here, so the terminal's same-origin URL reaches this server. */
  port: number
  sessions: TerminalSessionRecord[]
  close(): Promise<void>
}

/**
 * A stand-in device shell speaking the terminal wire protocol, behind a small
 * front that forwards every other request to the real gateway. The console
 * derives the terminal URL from its own origin and the device id, so loading
 * it through this front sends exactly that WebSocket here, unchanged.
 *
 * The "shell" echoes input bytes like a tty, runs a line on Enter by printing
 * `ran: <line>`, records resize messages, and on `exit` sends an exit control
 * message and closes.
 */
export async function startTerminalEchoServer(gatewayPort: number): Promise<TerminalEchoServer> {
  const sessions: TerminalSessionRecord[] = []
  const sockets = new Set<WebSocket>()
  const wss = new WebSocketServer({ noServer: true })

  wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
    sockets.add(ws)
    ws.on('close', () => sockets.delete(ws))
    const record: TerminalSessionRecord = { path: req.url ?? '', cookie: req.headers.cookie, resizes: [], input: '' }
    sessions.push(record)
    let line = ''
    ws.send(Buffer.from('Welcome to the test device\r\n$ '))
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        const message = JSON.parse(data.toString()) as { type: string; cols: number; rows: number }
        if (message.type === 'resize') record.resizes.push({ cols: message.cols, rows: message.rows })
        return
      }
      const text = Buffer.from(data as Buffer).toString('utf8')
      record.input += text
      for (const ch of text) {
        if (ch === '\r') {
          const command = line
          line = ''
          if (command === 'exit') {
            ws.send(Buffer.from('\r\nlogout'))
            ws.send(JSON.stringify({ type: 'exit', code: 0, reason: 'the shell exited' }))
            ws.close(1000, 'exit')
            return
          }
          ws.send(Buffer.from(`\r\nran: ${command}\r\n$ `))
        } else {
          line += ch
          ws.send(Buffer.from(ch))
        }
      }
    })
  })

  const front = http.createServer((req, res) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: gatewayPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  })
  front.on('upgrade', (req, socket, head) => {
    if (!/^\/api\/devices\/[^/]+\/terminal(\?|$)/.test(req.url ?? '')) return socket.destroy()
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  })
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))

  return {
    port: (front.address() as AddressInfo).port,
    sessions,
    async close() {
      for (const ws of sockets) ws.terminate()
      wss.close()
      front.closeAllConnections()
      await new Promise<void>((resolve) => front.close(() => resolve()))
    },
  }
}
