import net from 'node:net'
import ssh2 from 'ssh2'
import type { TestKeyPair } from './keys.js'
import type { TestGateway } from './test-gateway.js'

/** One SSH login attempt with ssh2's Client: 'ready' on success, else the error it ended with. */
export function trySshLogin(port: number, username: string, key: TestKeyPair, readyTimeout = 15_000, localAddress?: string): Promise<string> {
  return new Promise((resolve) => {
    const client = new ssh2.Client()
    let settled = false
    const settle = (result: string) => {
      if (settled) return
      settled = true
      client.end()
      resolve(result)
    }
    client.on('ready', () => settle('ready'))
    client.on('error', (err) => settle(err.message))
    client.on('close', () => settle('closed'))
    client.connect({ host: '127.0.0.1', port, username, privateKey: key.privateKey, readyTimeout, ...(localAddress ? { localAddress } : {}) })
  })
}

export interface HeldSocket {
  socket: net.Socket
  /** Everything the gateway sent (its identification line, if it got that far). */
  received(): string
  readonly closed: boolean
  /** Resolves when the socket closes; the milliseconds it lived. */
  whenClosed: Promise<number>
}

/** A TCP connection to the SSH port from `localAddress` (any of 127/8) that says nothing unless told to. */
export function holdSocket(port: number, localAddress = '127.0.0.1'): Promise<HeldSocket> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const socket = net.connect({ port, host: '127.0.0.1', localAddress })
    let data = ''
    let closed = false
    socket.on('data', (d) => (data += d.toString('latin1')))
    socket.on('error', () => {})
    const whenClosed = new Promise<number>((r) =>
      socket.once('close', () => {
        closed = true
        r(Date.now() - started)
      }),
    )
    socket.once('connect', () =>
      resolve({
        socket,
        received: () => data,
        get closed() {
          return closed
        },
        whenClosed,
      }),
    )
    socket.once('close', () => reject(new Error(`could not connect from ${localAddress}`)))
  })
}

/** Registers a device with this key through the API; returns the API's device record. */
export async function registerDevice(gw: TestGateway, deviceId: string, key: TestKeyPair) {
  const res = await gw.http.post('/api/devices', { name: deviceId, device_id: deviceId, public_key: key.publicKey }, { token: gw.adminToken })
  if (res.status !== 201) throw new Error(`creating ${deviceId} failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as { id: string; device_id: string; ssh_port: number }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
