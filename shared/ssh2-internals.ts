import type net from 'node:net'

/**
 * Every place Edgetainer relies on ssh2 beyond its public API, in one module.
 * ssh2 is pinned (package.json) and test/unit/ssh2-internals.test.ts fails if
 * an upgrade moves any of these; fix them here and nowhere else.
 *
 * What we rely on, and why:
 * - `_sock`: the raw socket of a server-side Connection or a Client. The
 *   gateway batches writes on it and cuts it when a peer ignores a disconnect;
 *   the agent turns Nagle off on it before `ready` handlers run.
 * - The server writes its identification line (`SSH-2.0-<ident>\r\n`) as one
 *   separate, first write when a connection starts: the gateway sends it
 *   itself at accept time (so a client that waits for the server's banner is
 *   served while its handshake waits for a slot) and swallows ssh2's copy.
 * - `keepaliveInterval` / `keepaliveCountMax` in ServerConfig: undocumented,
 *   honoured by ssh2's Server (lib/server.js), not in its typings.
 */

interface WithSocket {
  _sock?: net.Socket
}

/** The TCP socket under an ssh2 server Connection or Client; undefined before it connects. */
export function sshSocket(connection: object): net.Socket | undefined {
  return (connection as WithSocket)._sock
}

/** The exact identification line ssh2's Server writes for `ident` (ServerConfig.ident). */
export function serverIdentLine(ident: string): Buffer {
  return Buffer.from(`SSH-2.0-${ident}\r\n`)
}

/**
 * Writes the server's identification line now, and drops the identical line
 * ssh2 writes first when the socket is later handed to its Server. Any other
 * first write passes through untouched (and the handshake would fail loudly).
 */
export function sendServerIdentEarly(socket: net.Socket, ident: string): void {
  const line = serverIdentLine(ident)
  socket.write(line)
  const write = socket.write
  socket.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
    socket.write = write
    const [chunk, encodingOrCb, cb] = args
    if (Buffer.isBuffer(chunk) && chunk.equals(line)) {
      const done = typeof encodingOrCb === 'function' ? encodingOrCb : cb
      if (typeof done === 'function') process.nextTick(done)
      return true
    }
    return write.apply(socket, args)
  } as net.Socket['write']
}
