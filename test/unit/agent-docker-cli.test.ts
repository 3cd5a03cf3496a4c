import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { createAgentLogger } from '../../agent/agent-logger.js'
import { createDockerCli, DockerUnavailableError } from '../../agent/docker/docker-cli.js'

/**
 * How the agent picks its compose command: the `docker compose` plugin when it answers, else a
 * `docker-compose` found on PATH without running it (v1 is Python: seconds of a small device's CPU per
 * agent start). The commands here are scripts in a PATH of the test's own; the real docker and
 * docker-compose are what the agent suites deploy with.
 */
const logger = createAgentLogger('warn', new Writable({ write: (_c, _e, done) => done() }))

t.test('the compose command: the plugin if it answers, else docker-compose from PATH, never run to find it', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-docker-cli-'))
  const bin = path.join(dir, 'bin')
  mkdirSync(bin)
  const ran = path.join(dir, 'docker-compose-ran')
  const savedPath = process.env.PATH
  t.teardown(() => {
    process.env.PATH = savedPath
    rmSync(dir, { recursive: true, force: true })
  })
  process.env.PATH = bin
  const script = (name: string, body: string, mode = 0o755) => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`)
    chmodSync(path.join(bin, name), mode)
  }

  // A docker without the compose plugin.
  script('docker', 'exit 1')
  await t.rejects(createDockerCli({ logger }).describe(), new DockerUnavailableError('neither `docker compose` nor `docker-compose` works on this device'), 'no compose at all is named')

  script('docker-compose', `/usr/bin/touch '${ran}'`, 0o644)
  await t.rejects(createDockerCli({ logger }).describe(), DockerUnavailableError, 'a docker-compose that is not executable does not count')
  rmSync(path.join(bin, 'docker-compose'))
  mkdirSync(path.join(bin, 'docker-compose'))
  await t.rejects(createDockerCli({ logger }).describe(), DockerUnavailableError, 'nor does a folder of that name')
  rmSync(path.join(bin, 'docker-compose'), { recursive: true })

  script('docker-compose', `/usr/bin/touch '${ran}'`)
  t.equal(await createDockerCli({ logger }).describe(), 'docker=docker compose=docker-compose', 'docker-compose v1 from PATH')
  t.notOk(existsSync(ran), 'found without being run')

  // The plugin answers: it wins.
  script('docker', '[ "$1 $2" = "compose version" ] && exit 0; exit 1')
  t.equal(await createDockerCli({ logger }).describe(), 'docker=docker compose=docker compose', 'the docker compose plugin')

  // No PATH at all (a unit's empty environment): the default search path, as execvp uses for the
  // commands themselves. This machine's docker has no compose plugin and /usr/bin/docker-compose.
  delete process.env.PATH
  t.equal(await createDockerCli({ logger }).describe(), 'docker=docker compose=docker-compose', 'without PATH, docker-compose is found where execvp would find it')
  process.env.PATH = bin

  // Configured: used as given, nothing probed.
  script('docker', 'exit 1')
  t.equal(await createDockerCli({ logger, configured: '/opt/docker/bin/docker compose' }).describe(), 'docker=/opt/docker/bin/docker compose=/opt/docker/bin/docker compose', 'a configured command is used as given')
})
