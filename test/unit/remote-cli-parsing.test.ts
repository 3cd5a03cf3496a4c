import { Command } from 'commander'
import fc from 'fast-check'
import t from 'tap'
import { parseGatewayUrl } from '../../cli/remote/api-client.js'
import { configDir } from '../../cli/remote/cli-config.js'
import { CliError, oneLine, printable } from '../../cli/remote/cli-error.js'
import { parseSince } from '../../cli/remote/logs-command.js'
import { jumpLogin } from '../../cli/remote/ssh-access.js'
import { applyLabels, durationFlag, parseLabel, rolloutId, rolloutSettingsBody, selectorFlag, waveSizeFlag } from '../../cli/remote/rollout-options.js'
import { commandTree } from '../../cli/remote/completion.js'
import { REMOTE_COMMANDS, registerRemoteCommands } from '../../cli/remote/remote-commands.js'
import { countsLine, settingsLine, watchLine } from '../../cli/remote/rollout-view.js'

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

t.test('rollouts create: flags become the API body; left-out flags leave the gateway defaults', async (t) => {
  t.same(rolloutSettingsBody({ fleet: 'shops' }), {}, 'nothing given: the body carries no settings, the gateway picks its defaults')
  t.same(
    rolloutSettingsBody({
      fleet: 'shops',
      selector: 'site=north,hw in (pi4,pi5)',
      strategy: 'canary',
      canaryPercent: '5',
      waveSize: '25%',
      doubling: true,
      successPercent: '90',
      errorThreshold: '0',
      onFailure: 'rollback',
      soak: '2m',
      deadline: '10m',
      start: true,
    }),
    {
      strategy: 'canary',
      selector: 'site=north,hw in (pi4,pi5)',
      canary_percent: 5,
      wave_percent: 25,
      doubling: true,
      success_percent: 90,
      error_threshold_percent: 0,
      failure_action: 'rollback',
      soak_seconds: 120,
      deadline_seconds: 600,
      start: true,
    },
  )
  t.same(rolloutSettingsBody({ device: ['pump-1', 'pump-2'], strategy: 'rolling', waveSize: '3' }), { strategy: 'rolling', wave_size: 3 })
  t.same(waveSizeFlag('12.5%'), { wave_percent: 12.5 })
  t.equal(durationFlag('500ms', '--soak', 0, 60), 0.5)
  t.equal(durationFlag('1.5h', '--soak', 0, 86_400), 5400)
  t.equal(durationFlag('90', '--soak', 0, 600), 90, 'a bare number is seconds')
  const bad: [Parameters<typeof rolloutSettingsBody>[0], RegExp][] = [
    [{}, /give a target: --fleet F .* or one or more --device D/],
    [{ fleet: 'a', device: ['b'] }, /not both/],
    [{ device: ['b'], selector: 'a=b' }, /--selector narrows a fleet/],
    [{ fleet: 'a', strategy: 'bigbang' }, /--strategy must be one of immediate, manual, canary, rolling, not "bigbang"/],
    [{ fleet: 'a', strategy: 'rolling', canaryPercent: '10' }, /--canary-percent only applies to --strategy canary/],
    [{ fleet: 'a', canaryPercent: '0' }, /--canary-percent must be a number from 1 to 100/],
    [{ fleet: 'a', canaryPercent: '1e2' }, /--canary-percent must be/],
    [{ fleet: 'a', waveSize: '0' }, /--wave-size must be a number of devices/],
    [{ fleet: 'a', waveSize: '101%' }, /--wave-size must be a number from 1 to 100/],
    [{ fleet: 'a', strategy: 'immediate', waveSize: '2' }, /--wave-size does not apply to --strategy immediate/],
    [{ fleet: 'a', strategy: 'immediate', doubling: true }, /--doubling does not apply/],
    [{ fleet: 'a', successPercent: 'NaN' }, /--success-percent must be/],
    [{ fleet: 'a', errorThreshold: '-1' }, /--error-threshold must be a number from 0 to 100/],
    [{ fleet: 'a', onFailure: 'explode' }, /--on-failure must be one of pause, rollback, continue/],
    [{ fleet: 'a', soak: '8d' }, /--soak must be a duration from 0 s to 7 days/],
    [{ fleet: 'a', deadline: '0' }, /--deadline must be a duration from 0.1 s/],
    [{ fleet: 'a', selector: 'site=north;rm -rf /' }, /--selector: unexpected character ";" at position 11/],
    [{ device: ['ok', 'no way'] }, /"no way" is not a device id/],
  ]
  for (const [flags, why] of bad) t.throws(() => rolloutSettingsBody(flags), { message: why, exitCode: 1 }, JSON.stringify(flags))
  t.equal(selectorFlag('!legacy,gpu'), '!legacy,gpu')
  t.equal(rolloutId('3F2A0C1E-0000-4000-8000-000000000001'), '3f2a0c1e-0000-4000-8000-000000000001')
  t.throws(() => rolloutId('../../api/users'), { message: /is not a rollout id/, exitCode: 1 })
})

t.test('rollouts create: any flag value is a body or a usage error naming its flag, never a crash', async (t) => {
  const flags = ['canaryPercent', 'waveSize', 'successPercent', 'errorThreshold', 'onFailure', 'soak', 'deadline', 'strategy', 'selector'] as const
  const names: Record<(typeof flags)[number], string> = {
    canaryPercent: '--canary-percent', waveSize: '--wave-size', successPercent: '--success-percent', errorThreshold: '--error-threshold',
    onFailure: '--on-failure', soak: '--soak', deadline: '--deadline', strategy: '--strategy', selector: '--selector',
  }
  const value = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('1e3', 'NaN', 'Infinity', '-0', '0x10', '25%%', '%', '1.0000001', '99999999999', '__proto__', 'constructor'))
  let n = 0
  fc.assert(
    fc.property(fc.constantFrom(...flags), value, (flag, v) => {
      n++
      try {
        const body = rolloutSettingsBody({ fleet: 'shops', [flag]: v })
        return JSON.stringify(body).length < 3000 && Object.values(body).every((x) => typeof x !== 'number' || Number.isFinite(x))
      } catch (err) {
        return err instanceof CliError && err.exitCode === 1 && err.message.includes(names[flag])
      }
    }),
    { numRuns: 300 },
  )
  t.comment(`ran ${n} cases`)
})

t.test('devices label: key=value pairs and --remove applied to the current labels', async (t) => {
  t.same(parseLabel('site=north'), ['site', 'north'])
  t.same(parseLabel('example.com/zone='), ['example.com/zone', ''], 'an empty value is a value')
  t.throws(() => parseLabel('a=b=c'), { message: /label value "b=c" of "a"/ })
  t.same(applyLabels({ site: 'south', legacy: 'yes' }, ['site=north', 'hw=pi5'], ['legacy']), { site: 'north', hw: 'pi5' })
  t.same(applyLabels({ a: '1' }, [], ['missing']), { a: '1' }, 'removing a label the device lacks is no error')
  t.throws(() => parseLabel('site'), { message: /"site" is not key=value; remove a label with --remove site/ })
  t.throws(() => parseLabel('bad key=x'), { message: /label key "bad key"/ })
  t.throws(() => parseLabel('site=no/slash'), { message: /label value "no\/slash" of "site"/ })
  t.throws(() => applyLabels({}, ['a=1'], ['a']), { message: /both set and given to --remove/ })
  t.throws(() => applyLabels({}, [], ['-x']), { message: /label key "-x" in --remove/ })
  const many = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v']))
  t.throws(() => applyLabels(many, ['one=more'], []), { message: /at most 64 labels/ })
  let n = 0
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 20 }), { maxLength: 4 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 2 }), (set, remove) => {
      n++
      try {
        const labels = applyLabels({}, set, remove)
        return Object.entries(labels).every(([k, v]) => /^[A-Za-z0-9._/-]+$/.test(k) && /^[A-Za-z0-9._-]*$/.test(v))
      } catch (err) {
        return err instanceof CliError && err.exitCode === 1 && !/[\u0000-\u001f]/.test(err.message)
      }
    }),
    { numRuns: 300 },
  )
  t.comment(`ran ${n} cases`)
})

t.test('rollout text: counts in life order, settings in words, watch lines without terminal control', async (t) => {
  t.equal(countsLine({ pending: 2, succeeded: 3, failed: 0, rolled_back: 1 }), 'pending 2, succeeded 3, rolled back 1')
  t.equal(countsLine({}), 'no devices yet')
  t.equal(
    settingsLine({ strategy: 'canary', settings: { canary_percent: 10, wave_size: null, wave_percent: 25, doubling: false, success_percent: 100, error_threshold_percent: 20, failure_action: 'pause', soak_seconds: 60, deadline_seconds: 3600 } }),
    'canary 10%, then waves of 25%; success 100%; soak 60 s; pause above 20% failed; deadline 3600 s',
  )
  t.match(settingsLine({ strategy: 'rolling', settings: { wave_size: 3, doubling: true } }), /^rolling: waves of 3 device\(s\), doubling; /)
  const line = watchLine(
    { status: 'paused', reason: 'bad\u001b[2J news', current_wave: 0, wave_count: 3, counts: { failed: 1 } } as unknown as Parameters<typeof watchLine>[0],
    new Date('2026-12-02T04:05:06Z'),
  )
  t.equal(line, '04:05:06 paused wave 1 of 3: failed 1 | bad news\n')
})

t.test('rollouts and devices label are remote commands, and completion offers them with their flags', async (t) => {
  t.ok(REMOTE_COMMANDS.includes('rollouts'), 'bin/edgetainer starts `rollouts` without the gateway modules')
  const program = new Command('edgetainer').enablePositionalOptions()
  registerRemoteCommands(program)
  const words = new Map(commandTree(program).map((n) => [n.path, n.words]))
  t.match(words.get('/rollouts'), ['list', 'ls', 'show', 'create', 'start', 'pause', 'resume', 'advance', 'cancel', 'rollback', 'retry', 'watch'])
  t.ok(['--fleet', '--selector', '--device', '--strategy', '--wave-size', '--on-failure', '--soak', '--deadline', '--start'].every((w) => words.get('/rollouts/create')!.includes(w)))
  t.ok(words.get('/rollouts/watch')!.includes('--interval'))
  t.ok(words.get('/devices')!.includes('label') && words.get('/devices/label')!.includes('--remove'))
})
