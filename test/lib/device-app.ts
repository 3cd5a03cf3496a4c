import http from 'node:http'
import net from 'node:net'
import { WebSocketServer } from 'ws'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface DeviceApp {
  port: number
  /** Request headers the app saw, newest last. */
  seen: http.IncomingHttpHeaders[]
  urls: string[]
}

/**
 * A stand-in for a container's web service on the device side: answers with
 * its name and the path, echoes WebSocket messages, and records the headers
 * it received so tests can see what the gateway passed on.
 */
export async function startDeviceApp(t: Teardown, name: string): Promise<DeviceApp> {
  const seen: http.IncomingHttpHeaders[] = []
  const urls: string[] = []
  const server = http.createServer((req, res) => {
    seen.push(req.headers)
    urls.push(req.url ?? '')
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end(`${name} says hello at ${req.url}`)
  })
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${data}`)))
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
  return { port: (server.address() as net.AddressInfo).port, seen, urls }
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
