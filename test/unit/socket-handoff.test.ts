import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { releaseFromServer, socketInternalsPresent, stopReading } from '../../shared/socket-handoff.js'

/**
 * shared/socket-handoff.ts reaches into net.Socket to move a connection to
 * another worker; these fail if a Node upgrade moves what it relies on.
 */

async function connectedPair(t: Test) {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection') as Promise<[net.Socket]>
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  const [socket] = await accepted
  t.teardown(() => {
    client.destroy()
    socket.destroy()
    server.close()
  })
  return { server, client, socket }
}

const connections = (server: net.Server) => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))))

t.test('the internals are where the module expects them', async (t) => {
  const { socket } = await connectedPair(t)
  t.ok(socketInternalsPresent(socket))
})

t.test('stopReading hands out what was read and not yet taken, and stops the socket reading', async (t) => {
  const { client, socket } = await connectedPair(t)
  socket.pause()
  client.write('first bytes')
  while (socket.readableLength < 'first bytes'.length) await new Promise((r) => setImmediate(r))
  const read = stopReading(socket)
  t.equal(read.toString(), 'first bytes')
  t.equal((socket as unknown as { _handle: { reading: boolean } })._handle.reading, false, 'no longer reading')
})

t.test('releaseFromServer takes the socket off the server that accepted it', async (t) => {
  const { server, socket } = await connectedPair(t)
  t.equal(await connections(server), 1)
  releaseFromServer(socket)
  t.equal(await connections(server), 0, 'its close() no longer waits for this socket')
  t.equal((socket as unknown as { server: unknown }).server, null)
})
