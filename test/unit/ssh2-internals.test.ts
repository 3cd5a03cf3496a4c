import t from 'tap'
import net from 'node:net'
import { createRequire } from 'node:module'
import ssh2 from 'ssh2'
import { generateEd25519 } from '../../shared/ed25519-keys.js'
import { sendServerIdentEarly, serverIdentLine, sshSocket } from '../../shared/ssh2-internals.js'

// Guards shared/ssh2-internals.ts: if an ssh2 upgrade moves what it relies on, this fails before the gateway does.

const require = createRequire(import.meta.url)

t.test('ssh2 is the version the internals were checked against', async (t) => {
  t.equal((require('ssh2/package.json') as { version: string }).version, '1.17.0', 'upgrade ssh2 only together with shared/ssh2-internals.ts')
})

t.test('the server sends its banner early, ssh2 its copy never, and a client still completes the handshake', async (t) => {
  const hostKey = generateEd25519('host')
  const clientKey = generateEd25519('client')
  let serverSideSocket: net.Socket | undefined
  const server = new ssh2.Server({ hostKeys: [hostKey.private], ident: 'UnitTest' }, (connection) => {
    serverSideSocket = sshSocket(connection)
    connection.on('authentication', (ctx) => ctx.accept())
    connection.on('error', () => {})
  })
  const front = net.createServer({ pauseOnConnect: true }, (socket) => {
    sendServerIdentEarly(socket, 'UnitTest')
    socket.resume()
    server.injectSocket(socket)
  })
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))
  t.teardown(() => front.close())
  const port = (front.address() as net.AddressInfo).port

  // A raw peer sees exactly one identification line, then binary packets (KEXINIT).
  const raw = net.connect(port, '127.0.0.1')
  const received: Buffer[] = []
  raw.on('data', (d) => received.push(d))
  await new Promise((r) => raw.once('data', r))
  t.same(Buffer.concat(received), serverIdentLine('UnitTest'), 'the banner alone, before the peer spoke')
  raw.write('SSH-2.0-Raw_1.0\r\n')
  await new Promise((r) => raw.once('data', r))
  const all = Buffer.concat(received).toString('latin1')
  t.equal(all.split('SSH-2.0-').length - 1, 1, 'one identification line in all')
  raw.destroy()

  // A real client completes the handshake over it; both ends expose their socket where we read it.
  const client = new ssh2.Client()
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve)
    client.once('error', reject)
    client.connect({ host: '127.0.0.1', port, username: 'unit', privateKey: clientKey.private })
  })
  t.ok(sshSocket(client) instanceof net.Socket, "Client's _sock is its socket")
  t.ok(serverSideSocket instanceof net.Socket, "server Connection's _sock is its socket")
  client.end()
})
