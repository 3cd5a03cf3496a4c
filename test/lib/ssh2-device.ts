import net from 'node:net'
import ssh2 from 'ssh2'
import type { TestKeyPair } from './keys.js'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface Ssh2Device {
  client: ssh2.Client
  /** Asks the gateway for a remote forward; resolves with the port it answers. */
  forward(bindAddr: string, bindPort: number, localPort: number): Promise<number>
  end(): void
}

/**
 * A device built on ssh2's Client: connects as `deviceId` with its key,
 * pins the gateway host key, and pipes forwarded channels to local ports.
 */
export async function connectSsh2Device(
  t: Teardown | undefined,
  options: { port: number; hostPublicKey: string; deviceId: string; key: TestKeyPair },
): Promise<Ssh2Device> {
  const client = new ssh2.Client()
  const targets = new Map<string, number>()
  const expected = ssh2.utils.parseKey(options.hostPublicKey)
  const pinned = (Array.isArray(expected) ? expected[0] : expected) as ssh2.ParsedKey
  client.on('tcp connection', (info, accept) => {
    const local = targets.get(`${info.destIP}:${info.destPort}`)
    const channel = accept()
    if (local === undefined) return channel.close()
    const socket = net.connect(local, '127.0.0.1')
    socket.setNoDelay(true)
    socket.on('error', () => channel.close())
    channel.on('error', () => socket.destroy())
    socket.pipe(channel).pipe(socket)
  })
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve)
    client.once('error', reject)
    client.connect({
      host: '127.0.0.1',
      port: options.port,
      username: options.deviceId,
      privateKey: options.key.privateKey,
      hostVerifier: (key: Buffer) => key.equals(pinned.getPublicSSH()),
      readyTimeout: 30_000,
    })
  })
  client.on('error', () => {})
  const device: Ssh2Device = {
    client,
    forward: (bindAddr, bindPort, localPort) =>
      new Promise((resolve, reject) =>
        client.forwardIn(bindAddr, bindPort, (err, port) => {
          if (err) return reject(err)
          targets.set(`${bindAddr}:${bindPort === 0 ? port : bindPort}`, localPort)
          resolve(port)
        }),
      ),
    end: () => client.end(),
  }
  t?.teardown(() => {
    client.end()
  })
  return device
}
