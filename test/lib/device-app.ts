import http from 'node:http'
import net from 'node:net'
import { WebSocketServer } from 'ws'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface DeviceApp {
  port: number
  /** Request headers the app saw (WebSocket upgrades included), newest last. */
  seen: http.IncomingHttpHeaders[]
  /** The same requests' headers as they arrived on the wire: name, value, name, value… */
  raw: string[][]
  urls: string[]
  /** Open TCP connections, requests still being answered, and open WebSockets: what a leaked tunnel channel holds. */
  open(): { connections: number; requests: number; websockets: number }
}

/**
 * A stand-in for a container's web service on the device side: answers with
 * its name and the path, echoes WebSocket messages, and records the headers
 * it received so tests can see what the gateway passed on. `/hold` sends
 * part of a response and never finishes it; `/upload` answers once the whole
 * body is in; a WebSocket to `/slow` is accepted late: for clients that vanish
 * mid-response, mid-request and mid-handshake.
 */
export async function startDeviceApp(t: Teardown, name: string): Promise<DeviceApp> {
  const seen: http.IncomingHttpHeaders[] = []
  const raw: string[][] = []
  const urls: string[] = []
  const record = (req: http.IncomingMessage) => {
    seen.push(req.headers)
    raw.push(req.rawHeaders)
    urls.push(req.url ?? '')
  }
  let requests = 0
  const server = http.createServer((req, res) => {
    record(req)
    requests++
    res.once('close', () => requests--)
    if (req.url === '/hold') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('the first part, and no more')
      return
    }
    if (req.url === '/upload') {
      let size = 0
      req.on('data', (d: Buffer) => (size += d.length))
      req.on('end', () => res.end(`${size} bytes`))
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end(`${name} says hello at ${req.url}`)
  })
  const wss = new WebSocketServer({ noServer: true })
  // `/slow` completes its WebSocket handshake only after 300 ms, as a busy app would.
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    const accept = () => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
    if (req.url === '/slow') setTimeout(accept, 300)
    else accept()
  })
  wss.on('connection', (ws, req) => {
    record(req)
    // A broken frame from the far side ends that socket, not the test process.
    ws.on('error', () => ws.terminate())
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${data}`))
  })
  // Every socket, tracked at the TCP level: upgraded or half-handshaken ones are invisible to
  // closeAllConnections(), and one left open would keep close() waiting for ever.
  const sockets = new Set<net.Socket>()
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    wss.close()
    for (const socket of sockets) socket.destroy()
    await closed
  })
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    raw,
    urls,
    open: () => ({ connections: sockets.size, requests, websockets: wss.clients.size }),
  }
}

/** An HTTP request with an explicit Host header, as a browser resolving `*.localhost` would send. */
export function requestViaHost(
  port: number,
  host: string,
  path = '/',
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host, ...headers }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

function dechunk(body: string): string {
  let out = ''
  for (let at = 0; ; ) {
    const eol = body.indexOf('\r\n', at)
    const size = eol === -1 ? NaN : parseInt(body.slice(at, eol), 16)
    if (!size) return out
    out += body.slice(eol + 2, eol + 2 + size)
    at = eol + 2 + size + 2
  }
}

export interface RawResponse {
  /** 0 when the connection closed without a status line. */
  status: number
  head: string
  body: string
}

/**
 * Writes `request` (text or bytes, exactly as given) on a fresh TCP connection
 * and reads until the server closes it or `timeoutMs` passes: node's http
 * client refuses the malformed headers hostile tests need to send. For an
 * upgrade, resolves as soon as the response head is in. `connect` opens the
 * connection another way (TLS, say).
 */
export function rawRequest(
  port: number,
  request: string | Buffer,
  timeoutMs = 10_000,
  connect: (port: number) => net.Socket = (p) => net.connect(p, '127.0.0.1'),
): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = connect(port)
    const chunks: Buffer[] = []
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      const text = Buffer.concat(chunks).toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      const head = end === -1 ? text : text.slice(0, end)
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]
      const body = end === -1 ? '' : text.slice(end + 4)
      resolve({ status: status ? Number(status) : 0, head, body: /\r\ntransfer-encoding: *chunked/i.test(head) ? dechunk(body) : body })
    }
    const timer = setTimeout(finish, timeoutMs)
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      const text = Buffer.concat(chunks).toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      if (end === -1) return
      // A kept-alive connection stays open: the response is complete by its own framing.
      const head = text.slice(0, end)
      const body = text.slice(end + 4)
      const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1]
      const bodiless = /^HTTP\/1\.[01] (101|204|304) /.test(head) || request.slice(0, 5).toString() === 'HEAD '
      if (bodiless || (length !== undefined && body.length >= Number(length))) finish()
      else if (/\r\ntransfer-encoding: *chunked/i.test(head) && body.endsWith('0\r\n\r\n')) finish()
    })
    socket.on('error', finish)
    socket.on('close', finish)
    socket.write(request)
  })
}
