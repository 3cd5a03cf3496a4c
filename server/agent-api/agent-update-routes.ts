import type { Express, Request } from 'express'
import { pipeline } from 'node:stream/promises'
import { z } from 'zod'
import { parseInput } from '../api/validation.js'
import type { Logger } from '../logger.js'
import type { AgentTargets } from '../releases/agent-targets.js'
import type { ReleaseStore } from '../releases/release-store.js'
import type { DeviceSession } from '../tunnel/device-session.js'
import { agentApi, type AgentUpdateResponse } from '../../shared/agent-wire.js'

const executableQuery = z.object({ sha512: z.string().regex(/^[0-9a-f]{128}$/, 'must be 128 lowercase hex digits') }).strict()

/**
 * Agent self-update, inside the tunnel: the signed manifest of the agent a
 * device should run, and the executable itself. The device is the tunnel's;
 * it learns nothing of other devices' targets.
 */
export function mountAgentUpdateRoutes(
  app: Express,
  sessionOf: (req: Request) => DeviceSession,
  deps: { releases: ReleaseStore; targets: AgentTargets; gatewayVersion: string; logger: Logger },
) {
  app.get(agentApi.agentUpdate.path, async (req, res) => {
    const device = sessionOf(req).device
    const [{ target }, reported] = await Promise.all([deps.targets.targetFor(device.id), deps.targets.deviceView(device.id)])
    let update: AgentUpdateResponse['update'] = null
    if (target !== null && target !== reported.version) {
      const release = await deps.releases.signedFor(target, reported.arch ?? 'x64')
      if (release) update = { manifest: release.manifest, signature: release.signature }
    }
    const body: AgentUpdateResponse = { gateway_version: deps.gatewayVersion, update }
    res.json(body)
  })

  app.get(agentApi.agentExecutable.path, async (req, res) => {
    sessionOf(req)
    const { sha512 } = parseInput(executableQuery, req.query, 'query')
    const { handle, release } = await deps.releases.openRelease(sha512)
    try {
      res.set({ 'Content-Type': 'application/octet-stream', 'Content-Length': String(release.size) })
      await pipeline(handle.createReadStream({ start: 0, end: release.size - 1, autoClose: false }), res)
    } catch (err) {
      // A device that hung up mid-download retries on its next check.
      deps.logger.debug({ err: (err as Error).message, sha512: sha512.slice(0, 16) }, 'agent download ended early')
    } finally {
      await handle.close()
    }
  })
}
