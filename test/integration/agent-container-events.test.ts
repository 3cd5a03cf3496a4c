import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { createAgentLogger } from '../../agent/agent-logger.js'
import { FAILURES_BEFORE_WARNING, followContainerEvents } from '../../agent/docker/container-events.js'
import { MANAGED_LABEL } from '../../agent/docker/containers.js'
import { createDockerCli } from '../../agent/docker/docker-cli.js'
import { ensureTestImage } from '../lib/docker-image.js'
import { waitFor } from '../lib/wait.js'

const quiet = createAgentLogger('warn', new Writable({ write: (_c, _e, done) => done() }))

/**
 * The agent's watch wakes on docker's events for its own containers, instead of asking docker every
 * few seconds. Real dockerd, real containers: what wakes it (start, die, destroy of its own), what does
 * not (another agent's containers, a terminal's `docker exec`), and a stream that fails or is killed is
 * started again, with a look each time since changes may have been missed meanwhile.
 */
t.test('docker events wake the watch for own state changes only', async (t) => {
  const image = ensureTestImage()
  const owner = randomUUID()
  const created: string[] = []
  t.teardown(() => {
    if (created.length) execFileSync('docker', ['rm', '-f', ...created], { stdio: 'ignore' })
  })
  // Other test files on this dockerd create containers labelled `true` (an earlier agent's), which count as
  // this agent's too: only the containers made here, and the stream's own starts, are looked at.
  const mine = new Set<string>()
  const changes: { action: string; id?: string }[] = []
  const seen = () => changes.filter((c) => !c.id || mine.has(c.id)).map((c) => c.action)
  const liveChanges: boolean[] = []
  const events = followContainerEvents({ docker: createDockerCli({ logger: quiet }), owner, onChange: (c) => changes.push(c), onLiveChange: (l) => liveChanges.push(l), logger: quiet })
  t.teardown(() => events.close())
  events.start()
  await waitFor('the stream is up', () => events.live && seen().includes('stream started'), 30_000, 50)
  t.same(liveChanges, [true])

  const run = (label: string) => {
    // Created, then started: its id is known before any event of it can arrive.
    const id = execFileSync('docker', ['create', '--label', `${MANAGED_LABEL}=${label}`, '--network', 'none', image, 'sleep', '300'], { encoding: 'utf8' }).trim()
    created.push(id)
    mine.add(id)
    execFileSync('docker', ['start', id], { stdio: 'ignore' })
    return id
  }
  const other = run(randomUUID())
  const own = run(owner)
  await waitFor('create and start', () => seen().includes('start'), 30_000, 50)
  t.same(seen(), ['stream started', 'create', 'start'], "its own container's create and start; nothing of the other agent's, which started first")

  execFileSync('docker', ['exec', own, 'true'])
  execFileSync('docker', ['stop', '-t', '0', other])
  execFileSync('docker', ['rm', '-f', own])
  await waitFor('destroy', () => seen().includes('destroy'), 30_000, 50)
  t.same(seen().slice(3), ['kill', 'die', 'destroy'], 'the removal, and before it neither the exec nor the other agent stopping')
})

t.test('a stream that fails or is killed is started again, with a look each time', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-events-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // A docker whose first `events` fails at once (as with no daemon); later ones run the real one, leaving their pid.
  const wrapper = path.join(dir, 'docker')
  writeFileSync(
    wrapper,
    `#!/bin/sh\nif [ "$1" = events ]; then\n  if [ ! -e ${dir}/failed-once ]; then touch ${dir}/failed-once; echo 'Cannot connect to the Docker daemon' >&2; exit 1; fi\n  echo $$ > ${dir}/pid\n  exec docker "$@"\nfi\nexec docker "$@"\n`,
  )
  chmodSync(wrapper, 0o755)
  // Only the stream's own starts: other test files' containers labelled `true` may wake it too.
  const seen: string[] = []
  const liveChanges: boolean[] = []
  const events = followContainerEvents({
    docker: createDockerCli({ configured: `${wrapper} compose`, logger: quiet }),
    owner: randomUUID(),
    onChange: (c) => c.id === undefined && seen.push(c.action),
    onLiveChange: (l) => liveChanges.push(l),
    logger: quiet,
    retry: { baseMs: 50, capMs: 200 },
  })
  t.teardown(() => events.close())
  events.start()
  await waitFor('up after the failed start', () => events.live, 30_000, 50)
  t.same(liveChanges, [true], 'the failed start never counted as up')
  t.same(seen, ['stream started'])

  process.kill(Number(readFileSync(path.join(dir, 'pid'), 'utf8')), 'SIGKILL')
  await waitFor('down, then up again', () => liveChanges.length === 3, 30_000, 50)
  t.same(liveChanges, [true, false, true])
  t.same(seen, ['stream started', 'stream started'], 'a look after each start')
  events.close()
  t.notOk(events.live, 'closed')
})

t.test('a stream that keeps failing to start is a warning once, at the fifth failure in a row; its return is logged too', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-events-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // A docker whose `events` fails at once while ${dir}/away exists, as with no daemon.
  const wrapper = path.join(dir, 'docker')
  writeFileSync(wrapper, `#!/bin/sh\nif [ "$1" = events ] && [ -e ${dir}/away ]; then echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock' >&2; exit 1; fi\nexec docker "$@"\n`)
  chmodSync(wrapper, 0o755)
  writeFileSync(path.join(dir, 'away'), '')
  const lines: { level: number; msg: string; failed_starts?: number; stderr?: string }[] = []
  const logger = createAgentLogger('debug', new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c))), done()) }))
  const events = followContainerEvents({
    docker: createDockerCli({ configured: `${wrapper} compose`, logger: quiet }),
    owner: randomUUID(),
    onChange: () => {},
    onLiveChange: () => {},
    logger,
    retry: { baseMs: 20, capMs: 50 },
  })
  t.teardown(() => events.close())
  events.start()
  const failures = () => lines.filter((l) => /could not start|keeps failing/.test(l.msg))
  await waitFor('seven failed starts', () => failures().length >= 7, 30_000, 20)
  const warnings = lines.filter((l) => l.level === 40)
  t.equal(warnings.length, 1, 'one warning for the whole outage')
  t.match(warnings[0], { msg: /docker events keeps failing to start/, failed_starts: FAILURES_BEFORE_WARNING, stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock' })
  t.equal(failures().indexOf(warnings[0]!), FAILURES_BEFORE_WARNING - 1, 'the earlier failures were debug lines')

  rmSync(path.join(dir, 'away'))
  await waitFor('up again', () => events.live, 30_000, 20)
  t.match(lines.filter((l) => l.level === 30), [{ msg: 'docker events runs again' }])
})
