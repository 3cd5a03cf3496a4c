import fc from 'fast-check'
import t from 'tap'
import { containerPorts } from '../../agent/docker/container-ports.js'
import { parseLine, timestampNs } from '../../agent/status/log-collector.js'
import { describeResult } from '../../server/devices/device-health.js'
import { decodeCursor, encodeCursor } from '../../server/telemetry/device-log-store.js'
import { containerShellCommand } from '../../server/terminal/terminal-session.js'

t.test('log cursors round-trip, and anything else is a 400 naming before', async (t) => {
  let cases = 0
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n - 1n }), (n) => {
      cases++
      return decodeCursor(encodeCursor(n)) === n
    }),
  )
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (s) => {
      cases++
      try {
        const n = decodeCursor(s)
        return encodeCursor(n) === s || Buffer.from(s, 'base64url').toString('latin1') === `a:${n}`
      } catch (err) {
        return (err as { code?: string }).code === 'VALIDATION_FAILED' && /before/.test((err as Error).message)
      }
    }),
  )
  t.comment(`ran ${cases} cases`)
  t.throws(() => decodeCursor(''), { code: 'VALIDATION_FAILED' })
})

t.test('docker log lines: timestamps compare as numbers, not strings', async (t) => {
  t.equal(timestampNs('2026-01-01T00:00:00.5Z'), timestampNs('2026-01-01T00:00:00.500000000Z'))
  t.ok(timestampNs('2026-01-01T00:00:00.9Z')! > timestampNs('2026-01-01T00:00:00.10Z')!)
  t.match(parseLine('2026-01-01T00:00:00.123456789Z hello world', 'stderr'), { ts: '2026-01-01T00:00:00.123456789Z', stream: 'stderr', text: 'hello world' })
  t.equal(parseLine('not a timestamp', 'stdout'), undefined)
  t.equal(parseLine('', 'stdout'), undefined)
})

t.test('container ports: published, exposed and listening, each once', async (t) => {
  const ports = containerPorts(
    { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }, { HostIp: '::', HostPort: '8080' }], '53/udp': null, 'junk': [] },
    { '80/tcp': {}, '9000/tcp': {} },
    [80, 3000],
  )
  t.same(ports, [
    { container_port: 80, protocol: 'tcp', host_port: 8080, host_ip: '0.0.0.0', source: 'published' },
    { container_port: 53, protocol: 'udp', host_port: null, host_ip: null, source: 'exposed' },
    { container_port: 9000, protocol: 'tcp', host_port: null, host_ip: null, source: 'exposed' },
    { container_port: 3000, protocol: 'tcp', host_port: null, host_ip: null, source: 'listening' },
  ])
  t.same(containerPorts(null, undefined, []), [])
})

t.test('deploy results read as words', async (t) => {
  t.equal(describeResult({ name: 'shop', version: '3', status: 'rolled_back', error: 'container web exited with code 3' }), 'shop 3 was rolled back: container web exited with code 3')
  t.equal(describeResult({ name: 'shop', version: '2', status: 'running', error: null }), 'shop 2 is running')
  t.equal(describeResult({ name: 'shop', version: '4', status: 'failed', error: null }), 'shop 4 failed to deploy')
})

t.test('the terminal looks the service up among the agent\'s containers, falling back to the name', async (t) => {
  const command = containerShellCommand('web', 'lab-1')
  t.match(command, /^c=\$\(docker ps -q --filter label=io\.edgetainer\.managed=lab-1 --filter label=com\.docker\.compose\.service=web --filter status=running \| head -n 1\); /, "the device's own first")
  t.match(command, /\[ -n "\$c" \] \|\| c=\$\(docker ps -q --filter label=io\.edgetainer\.managed=true --filter label=com\.docker\.compose\.service=web /, "then an earlier agent's")
  t.match(command, /exec docker exec -it "\$\{c:-web\}" sh/)
  t.notMatch(containerShellCommand('web', 'x; reboot'), /reboot/, 'an owner that is no device id is never put in the command')
  t.match(containerShellCommand('web'), /--filter label=io\.edgetainer\.managed --filter label=com\.docker\.compose\.service=web/, 'without a device id, any managed container')
})
