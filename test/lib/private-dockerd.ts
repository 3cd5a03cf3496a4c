import { execFile, execFileSync, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { TEST_IMAGE } from './docker-image.js'
import { waitFor } from './wait.js'

const run = promisify(execFile)

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface PrivateDockerd {
  /** `unix://…/docker.sock` */
  host: string
  /** A docker executable bound to this daemon: give `${docker} compose` as the agent's `docker` setting. */
  docker: string
}

/**
 * A dockerd of the test's own, so several agents on one machine do not fight
 * over compose projects named after the software alone (DESIGN.md: "give each
 * agent its own dockerd"). vfs, no iptables, no bridge: containers use host
 * networking. The test image is copied in from the machine's daemon.
 */
export async function startPrivateDockerd(t: Teardown): Promise<PrivateDockerd> {
  // Short paths: unix socket paths are limited to about 100 bytes.
  const dir = mkdtempSync(path.join(tmpdir(), 'etd-'))
  const socket = path.join(dir, 'd.sock')
  const host = `unix://${socket}`
  const child = spawn(
    'dockerd',
    ['--storage-driver=vfs', '--iptables=false', '--ip6tables=false', '--bridge=none', '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'x'), '--pidfile', path.join(dir, 'd.pid'), '-H', host],
    { stdio: 'ignore' },
  )
  t.teardown(async () => {
    try {
      execFileSync('docker', ['-H', host, 'rm', '-f', ...execFileSync('docker', ['-H', host, 'ps', '-aq'], { encoding: 'utf8' }).split('\n').filter(Boolean)], { stdio: 'ignore' })
    } catch {
      // Nothing to remove, or the daemon is gone.
    }
    child.kill('SIGTERM')
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)))
    // dockerd leaves its network namespace mounted under the exec root.
    await run('umount', [path.join(dir, 'x', 'netns', 'default')]).catch(() => undefined)
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // A mount still busy: the temp dir stays behind, harmlessly.
    }
  })
  // Asynchronously: a blocked event loop would leave the test's HTTP keep-alive sockets to die unnoticed.
  await waitFor('private dockerd up', () => run('docker', ['-H', host, 'version'], { timeout: 5000 }).then(() => true, () => false), 60_000, 200)
  await run('sh', ['-c', `docker save ${TEST_IMAGE} | docker -H ${host} load`])
  const docker = path.join(dir, 'docker')
  writeFileSync(
    docker,
    `#!/bin/sh\nif [ "$1" = compose ]; then shift; exec env DOCKER_HOST=${host} docker-compose "$@"; fi\nexec docker -H ${host} "$@"\n`,
  )
  chmodSync(docker, 0o755)
  return { host, docker }
}
