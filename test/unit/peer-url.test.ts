import fc from 'fast-check'
import t from 'tap'
import { defaultPeerUrl, peerDialOf, staysOnThisHost } from '../../server/cluster/peer-url.js'

t.test('a peer URL says how to dial it', async (t) => {
  t.same(peerDialOf('psk://10.0.0.5:7946/'), { transport: 'psk', host: '10.0.0.5', port: 7946 })
  t.same(peerDialOf('http://[fd00::5]:7400'), { transport: 'http', host: 'fd00::5', port: 7400 })
  t.same(peerDialOf('https://gw.example'), { transport: 'https', host: 'gw.example', port: 443 }, 'https:// has its default port')
  t.equal(peerDialOf('psk://10.0.0.5/'), undefined, 'psk:// has no default port')
  t.equal(peerDialOf('ftp://10.0.0.5:21/'), undefined)
  t.equal(defaultPeerUrl('127.0.0.1', 41000, false), 'http://127.0.0.1:41000/', 'a plain listener advertises http://')
  t.equal(defaultPeerUrl('::1', 41000, true), 'psk://[::1]:41000/')
})

t.test('peer traffic that stays on this host: no clear-text warning for it', async (t) => {
  t.ok(staysOnThisHost('127.0.0.1', 'http://127.0.0.1:41000/'), 'the --workers default: loopback listener, loopback address')
  t.ok(staysOnThisHost('::1', 'http://[::1]:41000/'))
  t.notOk(staysOnThisHost('0.0.0.0', 'http://127.0.0.1:41000/'), 'a wildcard bind takes connections from the network')
  t.notOk(staysOnThisHost('::', 'http://[::1]:41000/'))
  t.notOk(staysOnThisHost('[::]', 'http://[::1]:41000/'))
  t.notOk(staysOnThisHost('127.0.0.1', 'http://10.0.0.5:7946/'), 'advertised elsewhere: a relay carries it over the network')
  t.notOk(staysOnThisHost('10.0.0.5', 'http://10.0.0.5:7946/'))
  t.notOk(staysOnThisHost('127.0.0.1', 'not a url'), 'an unusable peer URL is never called local')
})

t.test('fuzz: any listener host and peer URL give an answer, never a throw', async (t) => {
  let n = 0
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.ipV4(), fc.ipV6(), fc.constant('0.0.0.0')), fc.oneof(fc.string({ maxLength: 60 }), fc.webUrl()), (host, url) => {
      n++
      t.type(staysOnThisHost(host, url), 'boolean')
    }),
    { numRuns: 300 },
  )
  t.equal(n, 300)
})
