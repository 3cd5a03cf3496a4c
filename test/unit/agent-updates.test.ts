import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { environmentOverride } from '../../agent/deploy/compose-environment.js'
import { containerExited, lastReason, pullFailure } from '../../agent/deploy/plain-errors.js'
import { createUpdateLocks, LOCK_FILE, waitingForLock } from '../../agent/deploy/update-lock.js'
import { targetChangesOf } from '../../server/agent-api/target-nudge.js'
import { aggregateStatus } from '../../server/deployments/deployment-status.js'
import { DEPLOY_STATES } from '../../shared/agent-wire.js'

t.test('a failed pull reads as which image and why, never as compose output', async (t) => {
  const v1 =
    'Pulling web ... \nPulling web ... error\n\nERROR: for web  Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host\nGet "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host\n'
  t.equal(pullFailure(v1, { web: 'foo:1', side: 'bar:2' }), 'image `foo:1` could not be pulled: the registry could not be reached')
  const v2 = ' web Error manifest for foo:1 not found: manifest unknown: manifest unknown\nError response from daemon: manifest for foo:1 not found: manifest unknown: manifest unknown\n'
  t.equal(pullFailure(v2, { web: 'foo:1' }), 'image `foo:1` could not be pulled: not found')
  t.equal(pullFailure('Error response from daemon: pull access denied for foo, repository does not exist or may require docker login', { web: 'foo:1' }), 'image `foo:1` could not be pulled: not found')
  t.equal(pullFailure('write /var/lib/docker/tmp/x: no space left on device', { a: 'a:1', b: 'b:1' }), 'images `a:1`, `b:1` could not be pulled: no space left on the device')
  t.equal(pullFailure('', { web: 'foo:1' }, true), 'image `foo:1` could not be pulled: it took too long')
  t.equal(pullFailure('ERROR: something odd happened', { web: 'foo:1' }), 'image `foo:1` could not be pulled: something odd happened')
  t.equal(containerExited('web', 1), 'container `web` exited with code 1')
  t.equal(lastReason('Creating et-x_web_1 ... \n\x1b[31mERROR\x1b[0m: for web  Cannot start service web: oci runtime error\n'), 'Cannot start service web: oci runtime error')

  let n = 0
  fc.assert(
    fc.property(fc.string({ maxLength: 2000 }), fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/), fc.string({ maxLength: 40 }), { minKeys: 1, maxKeys: 4 }), (stderr, images) => {
      n++
      const text = pullFailure(stderr, images)
      return text.startsWith('image') && text.includes('could not be pulled: ') && text.length < 600 && !text.includes('\n')
    }),
    { numRuns: 300 },
  )
  t.comment(`ran ${n} cases`)
})

t.test('update locks: a container holds one by creating the file; the agent takes them all or none and gives back only its own', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'et-locks-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const locks = createUpdateLocks({ dataDir })
  const sw = '0b9f6c1e-2d7a-4c55-9a53-1f0e2b3c4d5e'
  const webDir = locks.ensureDir(sw, 'web')
  locks.ensureDir(sw, 'side')
  t.equal(statSync(webDir).mode & 0o777, 0o777, 'containers of any user may create their lock')
  t.same(locks.held(sw, ['web', 'side']), [], 'nothing held')

  writeFileSync(path.join(webDir, LOCK_FILE), '')
  t.same(locks.held(sw, ['web', 'side']), ['web'])
  const refused = locks.take(sw, ['side', 'web'])
  t.same(refused, { heldBy: ['web'] })
  t.notOk(existsSync(path.join(dataDir, 'locks', sw, 'side', LOCK_FILE)), 'all or none: the lock on side was given back')

  rmSync(path.join(webDir, LOCK_FILE))
  const taken = locks.take(sw, ['web', 'side'])
  if (!('release' in taken)) throw new Error('expected the locks')
  t.same(locks.held(sw, ['web', 'side']), [], "the agent's own locks do not count as held")
  t.match(readFileSync(path.join(webDir, LOCK_FILE), 'utf8'), /edgetainer-agent/)
  t.ok('release' in locks.take(sw, ['web']), 'a lock the agent left behind is its own again')
  taken.release()
  t.notOk(existsSync(path.join(webDir, LOCK_FILE)))
  writeFileSync(path.join(webDir, LOCK_FILE), 'app')
  taken.release()
  t.ok(existsSync(path.join(webDir, LOCK_FILE)), 'releasing twice never removes a lock a container took since')
  t.equal(waitingForLock(['web']), 'waiting for update lock held by `web`')
  t.equal(waitingForLock(['web', 'db']), 'waiting for update lock held by `web`, `db`')
  locks.removeAll(sw)
  t.notOk(existsSync(path.join(dataDir, 'locks', sw)))
})

t.test('the compose override mounts each service its lock directory', async (t) => {
  const yaml = environmentOverride(['web', 'side'], { web: { A: '1' } }, { managed: 'true' }, { web: ['/data/locks/x/web:/run/edgetainer'] })
  const doc = parseYaml(yaml) as { services: Record<string, { volumes?: string[]; environment: Record<string, string> }> }
  t.same(doc.services.web!.volumes, ['/data/locks/x/web:/run/edgetainer'])
  t.equal(doc.services.side!.volumes, undefined)
  t.same(doc.services.web!.environment, { A: '1' })
})

t.test('which API changes touch which targets', async (t) => {
  const id = '11111111-2222-4333-8444-555555555555'
  t.same(targetChangesOf({ action: 'deployment.create', targetType: 'deployment', targetId: 'd', details: { fleet_id: id, device_id: null } }), [{ fleet_id: id }])
  t.same(targetChangesOf({ action: 'deployment.delete', targetType: 'deployment', targetId: 'd', details: { fleet_id: null, device_id: id } }), [{ device_uuid: id }])
  t.same(targetChangesOf({ action: 'env.update', targetType: 'fleet', targetId: id }), [{ fleet_id: id }])
  t.same(targetChangesOf({ action: 'env.import', targetType: 'device', targetId: id }), [{ device_uuid: id }])
  t.same(targetChangesOf({ action: 'software.update', targetType: 'software', targetId: id }), [{ software_id: id }])
  t.same(targetChangesOf({ action: 'device.move', targetType: 'device', targetId: id }), [{ device_uuid: id }])
  t.same(targetChangesOf({ action: 'user.create', targetType: 'user', targetId: id }), [])
  t.same(targetChangesOf({ action: 'deployment.update', targetType: 'deployment', targetId: 'd' }), [], 'no target named, nothing to nudge')
})

t.test('every phase is in progress in a deployment summary; the worst news still wins', async (t) => {
  t.same([...DEPLOY_STATES], ['deploying', 'downloading', 'installing', 'verifying', 'running', 'failed', 'rolled_back'])
  for (const phase of ['deploying', 'downloading', 'installing', 'verifying'] as const) {
    t.equal(aggregateStatus(['running', phase]), 'deploying', phase)
    t.equal(aggregateStatus([phase, 'failed']), 'failed')
  }
  t.equal(aggregateStatus(['running', 'running']), 'running')
  t.equal(aggregateStatus(['pending']), 'pending')
})
