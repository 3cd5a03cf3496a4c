import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, closeSync, existsSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs'
import { promisify } from 'node:util'
import type { Logger } from '../agent-logger.js'
import type { AgentApiClient } from '../tunnel/agent-api-client.js'
import { installSteps, rollbackSteps, runSteps, swapPaths } from './executable-swap.js'
import type { UpdateState } from './update-state.js'
import { compareVersions, ManifestRefusedError, verifySignedManifest, type AgentArch, type AgentManifest } from '../../shared/agent-release.js'
import { agentApi } from '../../shared/agent-wire.js'

const run = promisify(execFile)
/** Starts of a new agent that never reach their self-check before it is given up. */
const MAX_ATTEMPTS = 3

class UpdateRefusedError extends Error {}

/**
 * The agent updating itself. It asks the gateway which agent it should run,
 * verifies the signed manifest against the release key pinned at
 * provisioning, downloads the executable through the tunnel and checks it
 * against the manifest, swaps it in atomically (keeping the old one) and
 * exits for systemd to start the new one. The new one must bring the tunnel
 * up and get a heartbeat accepted within a deadline, or it puts the old one
 * back and exits again; the old one then reports why.
 */
export function createSelfUpdater(deps: {
  api: Pick<AgentApiClient, 'call' | 'download'>
  state: UpdateState
  executablePath: string
  releaseKey: string | undefined
  version: string
  arch: AgentArch
  selfCheckMs: number
  /** Writes a `kind: 'agent'` event to the durable outbox. */
  report(message: string): void
  /** Exits for the supervisor (systemd's Restart=always) to start the executable now in place. */
  restart(reason: string): void
  logger: Logger
}) {
  const { state, logger } = deps
  const paths = swapPaths(deps.executablePath)
  let trialTimer: NodeJS.Timeout | undefined
  let inTrial = false
  let busy = false
  let restarting = false
  // Signatures already refused: reported once, not at every check.
  const refused = new Set<string>()

  function restart(reason: string): void {
    restarting = true
    deps.restart(reason)
  }

  function rollback(reason: string): void {
    clearTimeout(trialTimer)
    inTrial = false
    const doc = state.read()
    const pending = doc.pending
    if (!pending) return
    if (!existsSync(paths.previous)) {
      deps.report(`agent ${deps.version} failed its self-check (${reason}) but there is no previous executable to return to`)
      state.write({ pending: null, failed: { ...doc.failed, [pending.sha512]: reason } })
      return
    }
    logger.warn({ reason, back_to: pending.from_version }, 'the updated agent failed its self-check; rolling back')
    // Recorded before the swap: a kill in the middle finishes the rollback on the next start.
    state.write({ ...doc, pending: { phase: 'rolled-back', from_version: pending.from_version, to_version: pending.to_version, sha512: pending.sha512, reason } })
    runSteps(rollbackSteps(paths))
    restart(`rolled back to ${pending.from_version}`)
  }

  /** At start: finishes what an update left on disk. Returns false when the agent is about to restart. */
  function resume(): boolean {
    const doc = state.read()
    const pending = doc.pending
    rmSync(paths.link, { force: true })
    if (!pending) return true
    if (pending.phase === 'installed' && pending.to_version === deps.version) {
      const attempts = pending.attempts + 1
      if (attempts > MAX_ATTEMPTS) {
        rollback(`the new agent started ${pending.attempts} times without passing its self-check`)
        return false
      }
      state.write({ ...doc, pending: { ...pending, attempts } })
      inTrial = true
      trialTimer = setTimeout(() => rollback(`no heartbeat accepted within ${deps.selfCheckMs / 1000} s of starting`), deps.selfCheckMs)
      logger.info({ from: pending.from_version, to: pending.to_version, deadline_ms: deps.selfCheckMs }, 'updated agent started; checking itself')
      return true
    }
    if (pending.phase === 'rolled-back' && pending.to_version === deps.version && existsSync(paths.previous)) {
      // Killed between deciding to roll back and the swap: finish it.
      runSteps(rollbackSteps(paths))
      restart(`rolled back to ${pending.from_version}`)
      return false
    }
    if (pending.phase === 'rolled-back') {
      deps.report(`agent update to ${pending.to_version} rolled back to ${deps.version}: ${pending.reason}`)
      state.write({ pending: null, failed: { ...doc.failed, [pending.sha512]: pending.reason } })
    } else {
      deps.report(`agent update to ${pending.to_version} did not complete; still running ${deps.version}`)
      state.write({ ...doc, pending: null })
    }
    rmSync(paths.incoming, { force: true })
    return true
  }

  /** A heartbeat went through: the tunnel is up and the gateway accepts us. That is the self-check. */
  function onHeartbeatAccepted(): void {
    if (!inTrial) return
    inTrial = false
    clearTimeout(trialTimer)
    const doc = state.read()
    if (doc.pending?.phase !== 'installed') return
    state.write({ ...doc, pending: null })
    deps.report(`agent updated from ${doc.pending.from_version} to ${deps.version}`)
    logger.info({ from: doc.pending.from_version, to: deps.version }, 'agent update passed its self-check')
  }

  /** Downloads into `incoming`, hashing as it goes; refuses anything the manifest does not describe. */
  async function download(manifest: AgentManifest): Promise<void> {
    rmSync(paths.incoming, { force: true })
    const fd = openSync(paths.incoming, 'w', 0o700)
    const hash = createHash('sha512')
    try {
      const size = await deps.api.download(`${agentApi.agentExecutable.path}?sha512=${manifest.sha512}`, (chunk) => {
        hash.update(chunk)
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off)
      }, manifest.size)
      fsyncSync(fd)
      const sha512 = hash.digest('hex')
      if (size !== manifest.size || sha512 !== manifest.sha512) {
        throw new UpdateRefusedError(`the downloaded executable does not match the signed manifest (${size} bytes, sha512 ${sha512.slice(0, 16)}…; expected ${manifest.size} bytes, ${manifest.sha512.slice(0, 16)}…)`)
      }
    } finally {
      closeSync(fd)
    }
    chmodSync(paths.incoming, 0o755)
    // It must at least run and say what it is before it replaces the agent that works.
    const said = await run(paths.incoming, ['--version'], { timeout: 60_000 }).then(
      (r) => r.stdout.trim(),
      (err: Error) => `(failed: ${err.message.split('\n')[0]})`,
    )
    if (said !== manifest.version) throw new UpdateRefusedError(`the downloaded executable does not start as version ${manifest.version}: --version said ${said}`)
  }

  /** Asks the gateway for this device's target agent and installs it when it is a verified, different one. */
  async function check(): Promise<void> {
    if (inTrial || busy || restarting) return
    busy = true
    let signature = ''
    try {
      const { gateway_version, update } = await deps.api.call(agentApi.agentUpdate)
      if (!update) return
      signature = String(update.signature)
      if (refused.has(signature)) return
      const manifest = verifySignedManifest(update, deps.releaseKey)
      if (manifest.version === deps.version) return
      if (state.read().failed[manifest.sha512]) return
      if (manifest.arch !== deps.arch) throw new UpdateRefusedError(`the release is for ${manifest.arch}, this device is ${deps.arch}`)
      if (compareVersions(gateway_version, manifest.min_gateway_version) < 0) {
        throw new UpdateRefusedError(`agent ${manifest.version} needs gateway ${manifest.min_gateway_version} or newer; the gateway is ${gateway_version}`)
      }
      if (!existsSync(paths.current)) throw new UpdateRefusedError(`executable_path ${paths.current} does not exist, so there is nothing to replace`)
      logger.info({ from: deps.version, to: manifest.version }, 'downloading agent update')
      await download(manifest)
      const doc = state.read()
      // Recorded before the swap: whichever executable starts next knows what was going on.
      state.write({ ...doc, pending: { phase: 'installed', from_version: deps.version, to_version: manifest.version, sha512: manifest.sha512, attempts: 0 } })
      runSteps(installSteps(paths))
      deps.report(`agent ${manifest.version} installed over ${deps.version}; restarting into it`)
      restart(`updating to ${manifest.version}`)
    } catch (err) {
      rmSync(paths.incoming, { force: true })
      if (err instanceof ManifestRefusedError || err instanceof UpdateRefusedError) {
        if (signature) refused.add(signature)
        logger.warn({ reason: err.message }, 'agent update refused')
        deps.report(`agent update refused: ${err.message}`)
      } else {
        logger.debug({ err: (err as Error).message }, 'agent update check failed; the next check retries')
      }
    } finally {
      busy = false
    }
  }

  return {
    resume,
    check,
    onHeartbeatAccepted,
    get inTrial() {
      return inTrial
    },
    close(): void {
      clearTimeout(trialTimer)
    },
  }
}

export type SelfUpdater = ReturnType<typeof createSelfUpdater>
