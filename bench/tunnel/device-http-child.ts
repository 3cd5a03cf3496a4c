/**
 * The device-local HTTP service both tunnels lead to: `/bulk?bytes=N` streams
 * N bytes from one in-memory buffer with backpressure, `/small` answers 100
 * bytes. In a process of its own, identical for both paths.
 */
import http from 'node:http'
import type net from 'node:net'
import { randomBytes } from 'node:crypto'
import { sendEvent, serveRpc } from '../lib/child-rpc.js'

const chunk = randomBytes(256 * 1024)
const small = Buffer.from('x'.repeat(99) + '\n')

const server = http.createServer((req, res) => {
  const url = req.url ?? '/'
  if (url.startsWith('/bulk')) {
    let left = Number(/bytes=(\d+)/.exec(url)?.[1] ?? 0)
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) })
    const pump = () => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left)
        left -= piece.length
        if (!res.write(piece)) return void res.once('drain', pump)
      }
      res.end()
    }
    pump()
    return
  }
  if (url.startsWith('/small')) {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(small.length) })
    res.end(small)
    return
  }
  res.writeHead(404, { 'content-length': '0' })
  res.end()
})
// Keep-alive connections stay open between rounds; neither path should pay reconnects.
server.keepAliveTimeout = 120_000
server.headersTimeout = 121_000
server.requestTimeout = 0
server.on('connection', (socket: net.Socket) => socket.setNoDelay(true))
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))

serveRpc({
  async close() {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    setTimeout(() => process.exit(0), 20)
    return true
  },
})
sendEvent('ready', { port: (server.address() as net.AddressInfo).port, pid: process.pid })
