/*
 * Applies releases with docker compose: deploy, roll back, update variables,
 * restart and remove. Over 300 lines on purpose: every operation is made of
 * the same steps (compose calls, pulls, update locks, verification, reports)
 * over the same release state; split apart, they would hand that state around.
 */
import { parse as parseYaml } from 'yaml'
import type { Logger } from '../agent-logger.js'
import type { Containers } from '../docker/containers.js'
import { DockerUnavailableError, errorSummary, type DockerCli } from '../docker/docker-cli.js'
import type { DeployState, OutboxEventInput } from '../../shared/agent-wire.js'
import { composeHash, type Step, type TargetStack } from './planner.js'
import type { StackMeta, StackStore } from './stack-store.js'
import { verifyRunning } from './verify.js'
import { containerExited, lastReason, pullFailure } from './plain-errors.js'
import { waitingForLock } from './update-lock.js'

const servicePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

class StepFailure extends Error {
  /** What compose printed: how a failure for want of dockerd is told from the release's own. */
  constructor(
    message: string,
    readonly output = '',
  ) {
    super(message)
  }
}

/** Words of a step that failed because dockerd did not answer: compose v1's, the docker CLI's (and compose v2's), the Engine API client's. */
const DOCKERD_UNREACHABLE = /connect to (the )?Docker daemon|fetching server API version|cannot reach dockerd at/i

/** Whether a step's error (its message and what compose printed) says dockerd could not be reached. */
export function failedForWantOfDockerd(text: string): boolean {
  return DOCKERD_UNREACHABLE.test(text)
}

/**
 * Deploys of one release cut short in a row (the agent killed, the device restarting) before it is given
 * up on and the release before it brought back: a release that takes the device down with it must not
 * be tried for ever.
 */
export const MAX_INTERRUPTIONS = 3

/** How many validated compose files the executor remembers (see resolvedServices). */
const VALIDATED_KEPT = 32

/** What a step came to: done (whatever its result), or deferred by an update lock (the sync loop tries again later). */
export type StepOutcome = 'done' | 'deferred'

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
 * software. A deploy is validated (`config`) first. Under the default
 * strategy, `download-then-kill`, its images are pulled before anything
 * running is touched; under `kill-then-download` the running release is
 * stopped first (a device short on disk). Containers are killed only while
 * no service holds its update lock (update-lock.ts), unless the target says
 * `override_lock`. After `up` it must verify, or the previous release comes
 * back and the report says `rolled_back`. Each phase is reported as it
 * starts: downloading, installing, verifying, then the result.
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
  /** Per software, the last report sent: a retried deferral repeats nothing the gateway already knows. */
  const lastReport = new Map<string, string>()
  /** Compose files `compose config` accepted, by hash, with their services as compose resolved them. */
  const validated = new Map<string, Record<string, ServiceConfig>>()
  /** Per software, a deploy deferred by an update lock, validated (and pulled) already: its retries only re-check the locks, quietly. */
  const deferred = new Map<string, { digest: string; meta: StackMeta; config: Record<string, ServiceConfig> }>()

  function report(target: { software_id: string; name: string; version: string }, status: DeployState, error: string | null = null) {
    // Results always go out; a phase only when it says something new.
    const key = JSON.stringify([target.version, status, error])
    const phase = status !== 'running' && status !== 'failed' && status !== 'rolled_back'
    if (phase && lastReport.get(target.software_id) === key) return
    lastReport.set(target.software_id, key)
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
   *
   * A file validated before is not run through compose again: going back to the previous release (a
   * rollback, a rollout's retry) is when time counts most. Its answer depends on the file alone (the
   * agent's own environment, which compose also interpolates from, does not change while it runs).
   */
  async function resolvedServices(meta: StackMeta, compose: string): Promise<Record<string, ServiceConfig>> {
    const key = composeHash(compose)
    const known = validated.get(key)
    if (known) return known
    const [composeFile] = stacks.files(meta.software_id, 'next')
    const r = await docker.compose(meta.project, [composeFile!], ['config'], { timeoutMs: deps.timeouts.deployMs })
    if (r.failed) throw new StepFailure(`invalid compose file: ${errorSummary(r)}`, r.stderr)
    let services: Record<string, ServiceConfig>
    try {
      services = ((parseYaml(r.stdout) as { services?: Record<string, ServiceConfig> } | null)?.services ?? {}) as Record<string, ServiceConfig>
    } catch (err) {
      throw new StepFailure(`compose config printed what is not YAML: ${(err as Error).message.split('\n')[0]}`)
    }
    // Bounded: the releases a device goes back and forth between are few; the oldest goes first.
    if (validated.size >= VALIDATED_KEPT) validated.delete(validated.keys().next().value!)
    validated.set(key, services)
    return services
  }

  /**
   * Whether dockerd has the image. A look that fails because dockerd does not answer fails the step, which
   * then waits for dockerd: counted as missing, the pull after it could find dockerd back, go to the registry
   * for an image that only exists locally, and fail the release. Any other failed look counts as missing, and
   * the pull then says what is wrong.
   */
  async function imagePresent(image: string): Promise<boolean> {
    // Image references are `[host[:port]/]path[:tag][@digest]`: the path's slashes stay, as the docker CLI sends them.
    const reference = image.split('/').map(encodeURIComponent).join('/')
    try {
      return Boolean(await docker.api.get(`/images/${reference}/json`))
    } catch (err) {
      if (failedForWantOfDockerd((err as Error).message)) throw err
      return false
    }
  }

  /** Pulls what is missing or asked for; a local-only image with no pull policy is used as it is (devices may be offline). */
  async function pull(meta: StackMeta, config: Record<string, ServiceConfig>, release: 'next' | 'current') {
    const wanted: Record<string, string> = {}
    for (const [service, c] of Object.entries(config)) {
      if (!c.image || c.pull_policy === 'never' || c.pull_policy === 'build') continue
      if (c.pull_policy === 'always') wanted[service] = c.image
      else if (!(await imagePresent(c.image))) wanted[service] = c.image
    }
    if (!Object.keys(wanted).length) return
    const r = await compose(meta, release, ['pull', ...Object.keys(wanted)])
    if (r.failed) throw new StepFailure(pullFailure(r.stderr, wanted, r.timedOut), r.stderr)
  }

  /**
   * Services of the running release whose container holds its update lock.
   * A lock counts only while its container runs: one left by a container
   * that died (or by a reboot, where balena's tmpfs would have cleared it)
   * holds nothing back.
   */
  async function lockHolders(target: TargetStack, running: StackMeta | undefined, services: readonly string[]): Promise<string[]> {
    if (target.override_lock || !running) return []
    const held = stacks.locks.held(target.software_id, services)
    if (!held.length) return []
    const up = new Set((await deps.containers.ofProject(running.project)).filter((c) => c.state === 'running' && c.service).map((c) => c.service!))
    return held.filter((s) => up.has(s))
  }

  /** Takes the update locks before killing; `heldBy` names the services whose container holds theirs (the step is deferred). */
  async function takeLocks(target: TargetStack, running: StackMeta | undefined, services: readonly string[]): Promise<{ release(): void } | { heldBy: string[] }> {
    const holders = await lockHolders(target, running, services)
    if (holders.length) return { heldBy: holders }
    if (target.override_lock || !running) return { release: () => {} }
    return stacks.locks.take(target.software_id, services)
  }

  /** "migrate exited with code 1": what an admin needs from a failed `up`, rather than compose's progress output. */
  async function failedContainers(meta: StackMeta): Promise<string | undefined> {
    const exited = (await deps.containers.ofProject(meta.project).catch(() => [])).filter((c) => c.state === 'exited' && c.exit_code !== 0)
    return exited.length ? exited.map((c) => containerExited(c.service ?? c.name, c.exit_code)).join('; ') : undefined
  }

  async function upFailure(meta: StackMeta, up: { stderr: string; timedOut: boolean; exitCode: number | undefined }): Promise<string> {
    const reason = (await failedContainers(meta)) ?? (up.timedOut ? 'it took too long' : lastReason(up.stderr) || `exit code ${up.exitCode ?? 'unknown'}`)
    return `compose up failed: ${reason}`
  }

  async function verify(meta: StackMeta, services: string[], compose: string) {
    const oneShot = oneShotServices(compose)
    await verifyRunning({ containers: deps.containers, project: meta.project, services, oneShot, timeoutMs: deps.timeouts.deployMs, stableMs: deps.timeouts.stableMs, signal: deps.signal })
  }

  /** Whether dockerd answers at all. */
  async function dockerdAnswers(): Promise<boolean> {
    return docker.api.get('/version', 10_000).then(
      () => true,
      () => false,
    )
  }

  /**
   * A step that failed while dockerd did not answer (restarting after an OS update, say) says nothing
   * about the release: it waits in its phase, and the sync loop tries it again with backoff, rather than
   * it being marked failed and never retried. Throws then; returns when dockerd answers (a real failure).
   */
  async function waitIfDockerdAway(target: TargetStack, phase: DeployState, err: unknown): Promise<void> {
    if (err instanceof DockerUnavailableError) throw err
    // Both: dockerd may be back by now (it came up while the step failed), and its failure still says nothing.
    const text = err instanceof StepFailure ? `${err.message}\n${err.output}` : err instanceof Error ? err.message : ''
    if (!failedForWantOfDockerd(text) && (await dockerdAnswers())) return
    const waiting = `waiting for dockerd, which does not answer at ${docker.api.host}`
    report(target, phase, waiting)
    throw new DockerUnavailableError(`${target.name} ${target.version}: ${waiting} (${(err as Error).message})`)
  }

  /** A release that could not start: nothing running was touched. */
  async function refuse(target: TargetStack, digest: string, err: unknown): Promise<StepOutcome> {
    stacks.discard(target.software_id, 'next')
    await waitIfDockerdAway(target, 'downloading', err)
    stacks.setFailed(target.software_id, digest)
    report(target, 'failed', (err as Error).message)
    return 'done'
  }

  async function deploy(target: TargetStack, digest: string): Promise<StepOutcome> {
    const killFirst = target.update_strategy === 'kill-then-download'
    const running = stacks.read(target.software_id, 'current')
    // A release whose deploy was cut short (the agent killed on the way) is not what to go back to: the one
    // before it is still in `previous`, and stays there while this deploy takes the interrupted one's place.
    const interrupted = running?.unfinished === true
    const cutShortInPlace = interrupted && running!.digest === digest ? (running!.interruptions ?? 0) + 1 : 0
    // Cut short before it took the running release's place (during its download: a pull that fills the disk or
    // the memory can take the device down with it) counts too, or such a release would be tried forever.
    const staged = stacks.read(target.software_id, 'next')
    const cutShortStaged = staged?.unfinished && staged.digest === digest ? (staged.interruptions ?? 0) + 1 : 0
    const cutShort = Math.max(cutShortInPlace, cutShortStaged)
    if (cutShort >= MAX_INTERRUPTIONS && cutShortInPlace > 0) {
      // It stands half-deployed in place: the release before it comes back.
      await rollBack(running!, Boolean(stacks.read(target.software_id, 'previous')), digest, `its deploy was cut short ${cutShort} times (the agent stopped or the device restarted during it)`)
      return 'done'
    }
    if (cutShort >= MAX_INTERRUPTIONS && deferred.get(target.software_id)?.digest !== digest) {
      // Nothing running was touched: it runs on, and the release is not tried again.
      stacks.discard(target.software_id, 'next')
      stacks.setFailed(target.software_id, digest)
      report(target, 'failed', `its download was cut short ${cutShort} times (the agent stopped or the device restarted during it); what ran before runs on`)
      return 'done'
    }
    // Validate while the running release is untouched.
    let meta: StackMeta
    let config: Record<string, ServiceConfig>
    const waiting = deferred.get(target.software_id)
    if (waiting?.digest === digest && stacks.read(target.software_id, 'next')?.digest === digest) {
      meta = waiting.meta
      config = waiting.config
    } else {
      try {
        meta = stacks.write(target, declaredServices(target.compose), 'next', cutShort)
        config = await resolvedServices(meta, target.compose)
        if (!killFirst) {
          report(target, 'downloading')
          await pull(meta, config, 'next')
          // Downloaded: a restart from here on (while an update lock holds it back, say) is no fault of the release.
          stacks.setInterruptions(target.software_id, 'next', cutShortInPlace)
        }
      } catch (err) {
        deferred.delete(target.software_id)
        return await refuse(target, digest, err)
      }
    }

    // Nothing is killed while a container holds its update lock: the images wait, pulled, for the next try.
    const lock = await takeLocks(target, running, running?.services ?? [])
    if ('heldBy' in lock) {
      report(target, killFirst ? 'downloading' : 'installing', waitingForLock(lock.heldBy))
      if (waiting?.digest !== digest) logger.info({ software: target.name, version: target.version, held_by: lock.heldBy }, 'update deferred: update lock held')
      deferred.set(target.software_id, { digest, meta, config })
      return 'deferred'
    }
    deferred.delete(target.software_id)

    const hadPrevious = interrupted ? Boolean(stacks.read(target.software_id, 'previous')) : Boolean(running)
    if (!interrupted) stacks.move(target.software_id, 'current', 'previous')
    stacks.move(target.software_id, 'next', 'current')
    let phase: DeployState = 'downloading'
    try {
      if (killFirst) {
        // Stop and remove the old containers (volumes stay) before any download: the device may not have room for both.
        const previous = stacks.read(target.software_id, 'previous')
        if (previous) {
          // Reported as the download phase (what the stop makes room for), so phases only ever move forward.
          report(target, 'downloading', `stopping ${previous.version} first (kill-then-download)`)
          const down = await compose(previous, 'previous', ['down', '--remove-orphans'])
          if (down.failed) throw new StepFailure(`stopping ${previous.version} failed: ${lastReason(down.stderr) || 'compose down failed'}`, down.stderr)
        }
        report(target, 'downloading')
        await pull(meta, config, 'current')
      }
      report(target, (phase = 'installing'))
      const up = await compose(meta, 'current', ['up', '-d', '--remove-orphans'])
      if (up.failed) throw new StepFailure(await upFailure(meta, up), up.stderr)
      lock.release()
      report(target, (phase = 'verifying'))
      await verify(meta, meta.services, target.compose)
    } catch (err) {
      lock.release()
      try {
        await waitIfDockerdAway(target, phase, err)
      } catch (away) {
        // The stacks go back to where they were: the retry deploys this release again from the start.
        stacks.discard(target.software_id, 'current')
        if (hadPrevious) stacks.move(target.software_id, 'previous', 'current')
        throw away
      }
      await rollBack(meta, hadPrevious, digest, (err as Error).message)
      return 'done'
    }
    // In this order, for a kill at any point: the result is in the outbox (on disk) before the release
    // counts as finished, so an agent that restarts either has it sent or deploys the release again.
    stacks.setFailed(target.software_id, undefined)
    logger.info({ software: target.name, version: target.version }, 'deployed')
    report(target, 'running')
    stacks.finished(target.software_id)
    stacks.discard(target.software_id, 'previous')
    return 'done'
  }

  /**
   * Takes the failed release out and brings back the one before it. The failed mark comes last: an agent
   * killed on the way finds the failed release still unfinished (or the earlier one back in place) and
   * deploys it again, so the rollback and its report are never lost halfway.
   */
  async function rollBack(failed: StackMeta, hadPrevious: boolean, digest: string, error: string) {
    logger.warn({ software: failed.name, version: failed.version, error }, 'deploy failed; rolling back')
    if (!hadPrevious) {
      await compose(failed, 'current', ['down', '--remove-orphans'])
      stacks.removeAll(failed.software_id)
      report(failed, 'failed', `${error} (no earlier version to roll back to; the stack was removed)`)
      stacks.setFailed(failed.software_id, digest)
      return
    }
    stacks.move(failed.software_id, 'previous', 'current')
    const restored = stacks.read(failed.software_id, 'current')!
    const up = await compose(restored, 'current', ['up', '-d', '--remove-orphans'])
    const restoredNote = up.failed ? `; restoring ${restored.version} failed too: ${lastReason(up.stderr) || 'compose up failed'}` : ''
    report(failed, 'rolled_back', `${error}${restoredNote}`)
    stacks.setFailed(failed.software_id, digest)
  }

  async function updateEnv(target: TargetStack, digest: string, services: string[]): Promise<StepOutcome> {
    const before = stacks.read(target.software_id, 'current')!
    const running = services.filter((s) => before.services.includes(s))
    const lock = await takeLocks(target, before, running)
    if ('heldBy' in lock) {
      report(target, 'installing', waitingForLock(lock.heldBy))
      return 'deferred'
    }
    report(target, 'installing')
    let updated: StackMeta
    try {
      updated = stacks.rewriteEnv(before, target, 'current')
    } catch (err) {
      lock.release()
      // Nothing was written: the running release and its override stand as they were.
      stacks.setFailed(target.software_id, digest)
      report(target, 'failed', (err as Error).message)
      return 'done'
    }
    try {
      if (running.length) {
        // --no-deps: only the services whose environment changed are recreated.
        const up = await compose(updated, 'current', ['up', '-d', '--no-deps', ...running])
        lock.release()
        if (up.failed) throw new StepFailure(await upFailure(updated, up), up.stderr)
        report(target, 'verifying')
        await verify(updated, running, target.compose)
      }
    } catch (err) {
      lock.release()
      try {
        await waitIfDockerdAway(target, 'installing', err)
      } catch (away) {
        // The files say the old environment again, as what runs does (what was recreated is recreated again
        // at the retry, which applies the new one): the change is not failed, it waits for dockerd.
        stacks.rewriteEnv(before, { ...target, env: before.env }, 'current')
        throw away
      }
      stacks.rewriteEnv(before, { ...target, env: before.env }, 'current')
      stacks.setFailed(target.software_id, digest)
      const up = await compose(before, 'current', ['up', '-d', '--no-deps', ...running])
      report(target, 'rolled_back', `${(err as Error).message}${up.failed ? `; restoring the old environment failed too: ${lastReason(up.stderr)}` : ''}`)
      return 'done'
    }
    lock.release()
    stacks.setFailed(target.software_id, undefined)
    report(target, 'running')
    return 'done'
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
    async execute(step: Step): Promise<StepOutcome> {
      switch (step.kind) {
        case 'deploy':
          return deploy(step.target, step.digest)
        case 'update-env':
          return updateEnv(step.target, step.digest, step.services)
        case 'remove':
          await remove(step.software_id, step.name)
          return 'done'
        case 'restart':
          await restart(step.software_id, step.name, step.services)
          return 'done'
        case 'unknown-restart':
          note(`restart of ${step.container} skipped: no stack on this device runs it`)
          return 'done'
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
