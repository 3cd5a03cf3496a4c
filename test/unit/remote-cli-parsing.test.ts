import fc from 'fast-check'
import t from 'tap'
import { parseGatewayUrl } from '../../cli/remote/api-client.js'
import { configDir } from '../../cli/remote/cli-config.js'
import { CliError, oneLine, printable } from '../../cli/remote/cli-error.js'
import { parseSince } from '../../cli/remote/logs-command.js'
import { jumpLogin } from '../../cli/remote/ssh-access.js'

t.test('the config dir follows XDG_CONFIG_HOME, else ~/.config', async (t) => {
  t.equal(configDir({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/a' }), '/x/cfg/edgetainer')
  t.equal(configDir({ HOME: '/home/a' }), '/home/a/.config/edgetainer')
  t.equal(configDir({ XDG_CONFIG_HOME: 'relative/dir', HOME: '/home/a' }), '/home/a/.config/edgetainer', 'a relative XDG_CONFIG_HOME is ignored, as the spec says')
})

t.test('gateway URLs', async (t) => {
  t.equal(parseGatewayUrl('https://gw.example.com/'), 'https://gw.example.com')
  t.equal(parseGatewayUrl('http://127.0.0.1:8080/edge/'), 'http://127.0.0.1:8080/edge', 'a path prefix is kept')
  for (const [bad, why] of [
    ['gw.example.com', /is not a URL/],
    ['ftp://gw', /must start with https:\/\/ or http:\/\//],
    ['https://u:p@gw', /must not carry credentials/],
    ['https://gw/?a=1', /query or fragment/],
  ] as const) {
    t.throws(() => parseGatewayUrl(bad), { message: why, exitCode: 1 }, bad)
  }
})

t.test('--since: durations and ISO times', async (t) => {
  const now = Date.parse('2026-12-02T12:00:00Z')
  t.equal(parseSince('10m', now), '2026-12-02T11:50:00.000Z')
  t.equal(parseSince('2h', now), '2026-12-02T10:00:00.000Z')
  t.equal(parseSince('7d', now), '2026-11-25T12:00:00.000Z')
  t.equal(parseSince('2026-12-01T10:00:00Z'), '2026-12-01T10:00:00.000Z')
  t.equal(parseSince('2026-12-01T10:00:00+02:00'), '2026-12-01T08:00:00.000Z')
  t.throws(() => parseSince('yesterday'), { message: /--since must be/, exitCode: 1 })
  t.throws(() => parseSince('999999999d'), { message: /further than any log/, exitCode: 1 }, 'beyond the range of a date: a usage error, not a crash')
  let n = 0
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
      n++
      try {
        return !Number.isNaN(Date.parse(parseSince(s)))
      } catch (err) {
        return err instanceof CliError && err.exitCode === 1
      }
    }),
    { numRuns: 500 },
  )
  t.comment(`ran ${n} cases`)
})

t.test('untrusted text never reaches the terminal as control characters', async (t) => {
  t.equal(printable('\u001b[31mred\u001b[0m \u009b2J ok\tTab'), 'red 2J ok\tTab')
  t.equal(printable('a\r\nb'), 'a b')
  t.equal(printable('a\nb', { newlines: true }), 'a\nb')
  t.equal(oneLine('x'.repeat(500), 10), 'xxxxxxxxxx…')
  let n = 0
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
      n++
      return !/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/.test(printable(s)) && !/[\u0000-\u001f\u007f-\u009f]/.test(oneLine(s))
    }),
    { numRuns: 500 },
  )
  t.comment(`ran ${n} cases`)
})

t.test('the jump login tells people from devices (docs/admin-access.md)', async (t) => {
  t.equal(jumpLogin('alice'), 'u:alice')
})
