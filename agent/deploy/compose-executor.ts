import { parse as parseYaml } from 'yaml'
import type { Logger } from '../agent-logger.js'
import type { Containers } from '../docker/containers.js'
import { DockerUnavailableError, errorSummary, type DockerCli } from '../docker/docker-cli.js'
import type { DeployState, OutboxEventInput } from '../../shared/agent-wire.js'
import type { Step, TargetStack } from './planner.js'
import type { StackMeta, StackStore } from './stack-store.js'
import { verifyRunning } from './verify.js'

const servicePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

class StepFailure extends Error {}

interface ServiceConfig {
  image?: string
  pull_policy?: string
  build?: unknown
}

/** The services a compose file declares, or an error saying why it is not a compose file. */
export function declaredServices(compose: string): string[] {
  let doc: unknown
  try {
    doc = parseYaml(compose)
  } catch (err) {
    throw new StepFailure(`invalid compose file: ${(err as Error).message.split('\n')[0]}`)
  }
  const services = (doc as { services?: unknown } | null)?.services
  if (!services || typeof services !== 'object' || Array.isArray(services) || !Object.keys(services).length) {
    throw new StepFailure('invalid compose file: it declares no services')
  }
  const names = Object.keys(services)
  const bad = names.find((n) => !servicePattern.test(n))
  if (bad) throw new StepFailure(`invalid compose file: bad service name ${JSON.stringify(bad)}`)
  return names
}

/**
 * One-shot jobs (migrations, seeders): the services another service waits on with
 * `depends_on: {<job>: {condition: service_completed_successfully}}`, the Compose way of
 * saying a container is meant to finish. Their exit with code 0 is success, not a crash.
 */
export function oneShotServices(compose: string): string[] {
  const services = (parseYaml(compose) as { services?: Record<string, { depends_on?: unknown } | null> } | null)?.services ?? {}
  const jobs = new Set<string>()
  for (const service of Object.values(services)) {
    const dependsOn = service?.depends_on
    // The short list form has no conditions; only the long map form can name one.
    if (!dependsOn || typeof dependsOn !== 'object' || Array.isArray(dependsOn)) continue
    for (const [name, spec] of Object.entries(dependsOn as Record<string, { condition?: unknown } | null>)) {
      if (spec?.condition === 'service_completed_successfully') jobs.add(name)
    }
  }
  return [...jobs]
}

/**
 * Carries out the planner's steps with docker compose, one project per
 * software. A deploy is validated (`config`) and its images pulled before
 * anything running is touched; after `up` it must verify, or the previous
 * release comes back and the report says `rolled_back`.
 */
export function createComposeExecutor(deps: {
  docker: DockerCli
  containers: Containers
  stacks: StackStore
  report(events: OutboxEventInput[]): void
  logger: Logger
  timeouts: { deployMs: number; stableMs: number }
  signal: AbortSignal
}) {
  const { docker, stacks, logger } = deps

  function report(target: { software_id: string; name: string; version: string }, status: DeployState, error: string | null = null) {
    deps.report([{ kind: 'deploy', at: new Date().toISOString(), software_id: target.software_id, name: target.name, version: target.version, status, error }])
  }

  function note(message: string) {
    deps.report([{ kind: 'agent', at: new Date().toISOString(), message }])
  }

  async function compose(meta: StackMeta, release: 'current' | 'next' | 'previous', args: string[]) {
    return docker.compose(meta.project, stacks.files(meta.software_id, release), args, { timeoutMs: deps.timeouts.deployMs })
  }

  /**
   * Validates the compose file and returns its services as compose resolves
   * them (interpolated image names, pull policies). The file alone: the
   * override is ours and adds no image, while with it compose would print
   * every environment value, secrets included, and docker-compose v1 writes
   * NEL, LS and PS raw as YAML 1.1 line breaks that no YAML 1.2 parser reads
   * back. (One compose run: on a small device each costs seconds.)
   */
  async function resolvedServices(meta: StackMeta): Promise<Record<string, ServiceConfig>> {
    const [composeFile] = stacks.files(meta.software_id, 'next')
    const r = await docker.compose(meta.project, [composeFile!], ['config'], { timeoutMs: deps.timeouts.deployMs })
    if (r.failed) throw new StepFailure(`invalid compose file: ${errorSummary(r)}`)
    try {
      return ((parseYaml(r.stdout) as { services?: Record<string, ServiceConfig> } | null)?.services ?? {}) as Record<string, ServiceConfig>
    } catch (err) {
      throw new StepFailure(`compose config printed what is not YAML: ${(err as Error).message.split('\n')[0]}`)
    }
  }

  /** Pulls what is missing or asked for; a local-only image with no pull policy is used as it is (devices may be offline). */
  async function pull(meta: StackMeta, config: Record<string, ServiceConfig>) {
    const wanted: string[] = []
    for (const [service, c] of Object.entries(config)) {
      if (!c.image || c.pull_policy === 'never' || c.pull_policy === 'build') continue
      if (c.pull_policy === 'always') wanted.push(service)
      else if ((await docker.docker(['image', 'inspect', c.image], { timeoutMs: 30_000 })).failed) wanted.push(service)
    }
    if (!wanted.length) return
    const r = await compose(meta, 'next', ['pull', ...wanted])
    if (r.failed) throw new StepFailure(`pull failed: ${errorSummary(r)}`)
  }

  /** "migrate exited with code 1": what an admin needs from a failed `up`, rather than compose's progress output. */
  async function failedContainers(meta: StackMeta): Promise<string | undefined> {
    const exited = (await deps.containers.ofProject(meta.project).catch(() => [])).filter((c) => c.state === 'exited' && c.exit_code !== 0)
    return exited.length ? exited.map((c) => `${c.service ?? c.name} exited with code ${c.exit_code ?? '?'}`).join('; ') : undefined
  }

  async function verify(meta: StackMeta, services: string[], compose: string) {
    const oneShot = oneShotServices(compose)
    await verifyRunning({ containers: deps.containers, project: meta.project, services, oneShot, timeoutMs: deps.timeouts.deployMs, stableMs: deps.timeouts.stableMs, signal: deps.signal })
  }

  async function deploy(target: TargetStack, digest: string) {
    report(target, 'deploying')
    // Validate and pull while the running release is untouched.
    let meta: StackMeta
    try {
      meta = stacks.write(target, declaredServices(target.compose), 'next')
      await pull(meta, await resolvedServices(meta))
    } catch (err) {
      stacks.discard(target.software_id, 'next')
      // No docker at all says nothing about this release: leave it to be tried again.
      if (err instanceof DockerUnavailableError) throw err
      stacks.setFailed(target.software_id, digest)
      report(target, 'failed', (err as Error).message)
      return
    }

    const hadPrevious = Boolean(stacks.read(target.software_id, 'current'))
    stacks.move(target.software_id, 'current', 'previous')
    stacks.move(target.software_id, 'next', 'current')
    try {
      const up = await compose(meta, 'current', ['up', '-d', '--remove-orphans'])
      if (up.failed) throw new StepFailure(`compose up failed: ${(await failedContainers(meta)) ?? errorSummary(up)}`)
      await verify(meta, meta.services, target.compose)
    } catch (err) {
      await rollBack(meta, hadPrevious, digest, (err as Error).message)
      return
    }
    stacks.discard(target.software_id, 'previous')
    stacks.setFailed(target.software_id, undefined)
    logger.info({ software: target.name, version: target.version }, 'deployed')
    report(target, 'running')
  }

  async function rollBack(failed: StackMeta, hadPrevious: boolean, digest: string, error: string) {
    stacks.setFailed(failed.software_id, digest)
    logger.warn({ software: failed.name, version: failed.version, error }, 'deploy failed; rolling back')
    if (!hadPrevious) {
      await compose(failed, 'current', ['down', '--remove-orphans'])
      stacks.removeAll(failed.software_id)
      stacks.setFailed(failed.software_id, digest)
      report(failed, 'failed', `${error} (no earlier version to roll back to; the stack was removed)`)
      return
    }
    stacks.move(failed.software_id, 'previous', 'current')
    const restored = stacks.read(failed.software_id, 'current')!
    const up = await compose(restored, 'current', ['up', '-d', '--remove-orphans'])
    const restoredNote = up.failed ? `; restoring ${restored.version} failed too: ${errorSummary(up)}` : ''
    report(failed, 'rolled_back', `${error}${restoredNote}`)
  }

  async function updateEnv(target: TargetStack, digest: string, services: string[]) {
    const before = stacks.read(target.software_id, 'current')!
    const running = services.filter((s) => before.services.includes(s))
    report(target, 'deploying')
    let updated: StackMeta
    try {
      updated = stacks.rewriteEnv(before, target, 'current')
    } catch (err) {
      // Nothing was written: the running release and its override stand as they were.
      stacks.setFailed(target.software_id, digest)
      report(target, 'failed', (err as Error).message)
      return
    }
    try {
      if (running.length) {
        // --no-deps: only the services whose environment changed are recreated.
        const up = await compose(updated, 'current', ['up', '-d', '--no-deps', ...running])
        if (up.failed) throw new StepFailure(`compose up failed: ${errorSummary(up)}`)
        await verify(updated, running, target.compose)
      }
    } catch (err) {
      stacks.rewriteEnv(before, { ...target, env: before.env }, 'current')
      stacks.setFailed(target.software_id, digest)
      const up = await compose(before, 'current', ['up', '-d', '--no-deps', ...running])
      report(target, 'rolled_back', `${(err as Error).message}${up.failed ? `; restoring the old environment failed too: ${errorSummary(up)}` : ''}`)
      return
    }
    stacks.setFailed(target.software_id, undefined)
    report(target, 'running')
  }

  async function remove(softwareId: string, name: string) {
    const meta = stacks.read(softwareId, 'current')
    if (meta) {
      const down = await compose(meta, 'current', ['down', '--remove-orphans'])
      if (down.failed) return note(`removing ${name} failed: ${errorSummary(down)}`)
    }
    stacks.removeAll(softwareId)
    note(`removed ${name}: it is no longer deployed to this device`)
  }

  async function restart(softwareId: string, name: string, services: string[]) {
    const meta = stacks.read(softwareId, 'current')
    if (!meta) return note(`restart of ${services.join(', ')} skipped: ${name} does not run here`)
    const r = await compose(meta, 'current', ['restart', ...services])
    note(r.failed ? `restart of ${name}/${services.join(', ')} failed: ${errorSummary(r)}` : `restarted ${name}/${services.join(', ')} as requested`)
  }

  return {
    async execute(step: Step): Promise<void> {
      switch (step.kind) {
        case 'deploy':
          return deploy(step.target, step.digest)
        case 'update-env':
          return updateEnv(step.target, step.digest, step.services)
        case 'remove':
          return remove(step.software_id, step.name)
        case 'restart':
          return restart(step.software_id, step.name, step.services)
        case 'unknown-restart':
          return note(`restart of ${step.container} skipped: no stack on this device runs it`)
      }
    },
    /** Restarts every stack (an operator's "restart stacks"); returns the projects restarted. */
    async restartAll(): Promise<{ project: string; ok: boolean; error?: string }[]> {
      const results = []
      for (const meta of stacks.current()) {
        const r = await compose(meta, 'current', ['restart'])
        results.push({ project: meta.project, ok: !r.failed, ...(r.failed ? { error: errorSummary(r) } : {}) })
      }
      note(`restarted ${results.length} stack(s) as requested`)
      return results
    },
  }
}

export type ComposeExecutor = ReturnType<typeof createComposeExecutor>
