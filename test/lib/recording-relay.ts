import net from 'node:net'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface RecordingRelay {
  port: number
  /** Every byte the clients sent, all connections in order of arrival. */
  upstream(): Buffer
  /** Every byte the target sent back. */
  downstream(): Buffer
}

/**
 * A TCP relay on 127.0.0.1 in front of `targetPort` that keeps a copy of every byte it
 * passes, both ways: what a wiretap between two hosts would see.
 */
export async function startRecordingRelay(t: Teardown, targetPort: number): Promise<RecordingRelay> {
  const up: Buffer[] = []
  const down: Buffer[] = []
  const sockets = new Set<net.Socket>()
  const track = (socket: net.Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server = net.createServer((client) => {
    const target = net.connect(targetPort, '127.0.0.1')
    track(client)
    track(target)
    client.on('data', (d: Buffer) => up.push(Buffer.from(d)))
    target.on('data', (d: Buffer) => down.push(Buffer.from(d)))
    client.pipe(target).pipe(client)
    client.once('close', () => target.destroy())
    target.once('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { port: (server.address() as net.AddressInfo).port, upstream: () => Buffer.concat(up), downstream: () => Buffer.concat(down) }
}
