import t from 'tap'
import fc from 'fast-check'
import { firstRequestTarget, isHandoffMessage, isSiblingsMessage } from '../../server/cluster/connection-handoff.js'

/**
 * What a worker reads of a connection's first bytes to decide whether it
 * moves to a sibling worker (server/cluster/connection-handoff.ts). The bytes
 * are a client's: anything unclear means "serve it here", never a throw.
 */

const text = (s: string) => Buffer.from(s, 'latin1')

t.test('the first request line and Host give the target', async (t) => {
  t.same(firstRequestTarget(text('GET /a?b=1 HTTP/1.1\r\nHost: Web.Dev-1.Example.COM:8080\r\nAccept: */*\r\n\r\n')), { host: 'web.dev-1.example.com', path: '/a?b=1' })
  t.same(firstRequestTarget(text('POST /up HTTP/1.0\r\nContent-Length: 3\r\nhost: dev.example.com.\r\n\r\nabc')), { host: 'dev.example.com', path: '/up' }, 'any case, a trailing dot, a body after')
  t.same(firstRequestTarget(text('GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n')), { host: '[::1]', path: '/' })
  t.same(firstRequestTarget(text('GET / HTTP/1.1\r\nUser-Agent: x\r\nHost: a.example.com\r\nX-Long: ')), { host: 'a.example.com', path: '/' }, 'a head cut after a whole Host line')
})

t.test('anything unclear is no target: the connection is served where it landed', async (t) => {
  for (const bad of [
    '',
    'GET / HTTP/1.1',
    'GET / HTTP/1.1\r\nHost: a.exam',
    'GET / HTTP/1.1\r\n\r\n',
    'GET / HTTP/2.0\r\nHost: a\r\n\r\n',
    'get / HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET  / HTTP/1.1\r\nHost: a\r\n\r\n',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'GET / HTTP/1.1\r\nHost:\r\n\r\n',
    'GET / HTTP/1.1\r\nX-Host: a\r\n\r\n',
    '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
  ]) {
    t.equal(firstRequestTarget(text(bad)), undefined, JSON.stringify(bad))
  }
})

t.test('fuzzed first chunks never throw, and a target found is a plain host name', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), fc.boolean(), (bytes, prefixed) => {
      const chunk = Buffer.concat([prefixed ? text('GET /x HTTP/1.1\r\nHost: ') : Buffer.alloc(0), Buffer.from(bytes)])
      const target = firstRequestTarget(chunk)
      return target === undefined || (target.host.length > 0 && !/[\r\n]/.test(target.host) && target.host === target.host.toLowerCase())
    }),
    { numRuns: 3000 },
  )
  t.pass('3,000 chunks read without a throw')
})

t.test('the messages between workers and the primary are checked by shape', async (t) => {
  t.ok(isHandoffMessage({ type: 'edgetainer:connection', to: 'w1', from: 'w0', head: 'R0VU' }))
  t.notOk(isHandoffMessage({ type: 'edgetainer:connection', to: 'w1', head: 'R0VU' }))
  t.notOk(isHandoffMessage(null))
  t.ok(isSiblingsMessage({ type: 'edgetainer:siblings', nodeIds: ['w0', 'w1'] }))
  t.notOk(isSiblingsMessage({ type: 'edgetainer:siblings', nodeIds: ['w0', 1] }))
  t.notOk(isSiblingsMessage('edgetainer:siblings'))
})
