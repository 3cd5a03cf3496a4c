import t from 'tap'
import { isAllowed, parseAllowlist } from '../../agent/control/allowlist.js'

t.test('exact entries allow exactly that argv; a trailing * allows more arguments', async (t) => {
  const list = parseAllowlist(['uptime', 'df -h', 'docker logs *', '  journalctl   -u  * ', '*', ''])
  t.same(list, [['uptime'], ['df', '-h'], ['docker', 'logs', '*'], ['journalctl', '-u', '*']], 'a bare * allows nothing')
  t.ok(isAllowed(list, ['uptime']))
  t.notOk(isAllowed(list, ['uptime', '-p']))
  t.ok(isAllowed(list, ['df', '-h']))
  t.notOk(isAllowed(list, ['df']))
  t.ok(isAllowed(list, ['docker', 'logs']))
  t.ok(isAllowed(list, ['docker', 'logs', '--tail', '10', 'web']))
  t.notOk(isAllowed(list, ['docker', 'rm', '-f', 'web']))
  t.notOk(isAllowed(list, ['/usr/bin/uptime']), 'no path tricks: argv[0] must match')
  t.notOk(isAllowed(list, ['uptime;', 'rm', '-rf', '/']))
  t.notOk(isAllowed(list, []))
  t.notOk(isAllowed(parseAllowlist([]), ['uptime']), 'an empty list allows nothing')
})
