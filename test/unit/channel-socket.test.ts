import t from 'tap'
import { PassThrough } from 'node:stream'
import { asSocketLike } from '../../shared/channel-socket.js'

type SocketLike = PassThrough & { setTimeout(ms: number, cb?: () => void): unknown; setNoDelay(): unknown; setKeepAlive(): unknown }

t.test('setTimeout(0, cb) removes what setTimeout(ms, cb) added: no listener per keep-alive request', async (t) => {
  const channel = asSocketLike(new PassThrough()) as SocketLike
  const cb = () => {}
  for (let i = 0; i < 50; i++) {
    channel.setTimeout(60_000, cb)
    channel.setTimeout(0, cb)
  }
  t.equal(channel.listenerCount('timeout'), 0)
  t.equal(channel.setNoDelay(), channel, 'socket no-ops chain like a socket')
  t.equal(channel.setKeepAlive(), channel)
  channel.destroy()
})

t.test('an idle channel emits timeout, as a socket does', async (t) => {
  const channel = asSocketLike(new PassThrough()) as SocketLike
  // The channel's timer is unref'd (it must not hold a gateway open); hold the loop while we wait.
  const hold = setInterval(() => {}, 1000)
  await new Promise<void>((resolve) => channel.setTimeout(20, resolve))
  clearInterval(hold)
  t.pass('timeout emitted')
  channel.destroy()
})

t.test('the same timeout set again after it fired (the next keep-alive request) arms it again', async (t) => {
  const channel = asSocketLike(new PassThrough()) as SocketLike
  const hold = setInterval(() => {}, 1000)
  await new Promise<void>((resolve) => channel.setTimeout(20, resolve))
  await new Promise<void>((resolve) => channel.setTimeout(20, resolve))
  clearInterval(hold)
  t.pass('timeout emitted twice')
  t.equal(channel.listenerCount('timeout'), 0, 'each once-listener went with its timeout')
  channel.destroy()
})
