import type net from 'node:net'

const batched = new WeakSet<net.Socket>()

/**
 * Node writes each chunk with its own system call; ssh2 writes every SSH
 * packet with its own socket.write(). Corking a socket until the current turn
 * of the event loop has run (setImmediate) sends everything produced in that
 * turn in one writev: many channels' packets and window adjustments on the
 * SSH socket; several 32 KiB packets' worth of body on a client socket. With
 * Nagle off, the delay is bounded by the turn itself.
 */
export function batchWrites(sock: net.Socket): void {
  if (batched.has(sock)) return
  batched.add(sock)
  const write = sock.write
  let corked = false
  const uncork = () => {
    corked = false
    sock.uncork()
  }
  sock.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
    if (!corked) {
      corked = true
      sock.cork()
      setImmediate(uncork)
    }
    return write.apply(sock, args)
  } as net.Socket['write']
}
