import type { Logger } from '../agent-logger.js'
import type { StackStore } from '../deploy/stack-store.js'
import type { Containers } from '../docker/containers.js'
import { errorSummary, type DockerCli } from '../docker/docker-cli.js'
import type { ContainerAction, ControlContainerRequest, ControlContainerResult } from '../../shared/agent-wire.js'

/** A refusal with the status and code the control server answers. */
export class ContainerActionRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export const CONTAINER_ACTIONS: readonly ContainerAction[] = ['restart', 'stop', 'start']
const servicePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/

/**
 * Restarts, stops or starts the containers of one compose service of the
 * agent's own stacks (never any other container on the device). The service
 * is found by its compose label among managed containers, so callers name
 * `web`, not compose's `et-shop-…-web-1`. A stopped service stays stopped
 * until started or redeployed: the planner only acts on a changed target.
 */
export function createContainerActions(deps: { docker: DockerCli; containers: Containers; stacks: StackStore; logger: Logger; timeoutMs?: number }) {
  return {
    async run(request: ControlContainerRequest): Promise<ControlContainerResult> {
      if (typeof request.service !== 'string' || !servicePattern.test(request.service)) throw new ContainerActionRefusal(400, 'VALIDATION_FAILED', 'service: must be a compose service name')
      if (!CONTAINER_ACTIONS.includes(request.action)) throw new ContainerActionRefusal(400, 'VALIDATION_FAILED', 'action: must be restart, stop or start')
      // Only this agent's own stacks: the label alone would also match another agent's on a shared dockerd.
      const stacks = deps.stacks.current().filter((s) => request.software_id === undefined || s.software_id === request.software_id)
      const projects = new Set(stacks.map((s) => s.project))
      const candidates = (await deps.containers.managed()).filter((c) => c.service === request.service && c.project !== null && projects.has(c.project))
      if (!candidates.length) throw new ContainerActionRefusal(404, 'CONTAINER_NOT_FOUND', `no container of service ${request.service} runs on this device`)
      const found = new Set(candidates.map((c) => c.project))
      if (found.size > 1) throw new ContainerActionRefusal(409, 'CONTAINER_AMBIGUOUS', `service ${request.service} exists in ${found.size} stacks: name the software (software_id)`)

      deps.logger.info({ service: request.service, action: request.action, containers: candidates.length }, 'container action for the gateway')
      const r = await deps.docker.docker([request.action, ...candidates.map((c) => c.id)], { timeoutMs: deps.timeoutMs ?? 90_000 })
      if (r.failed) throw new ContainerActionRefusal(502, 'AGENT_ERROR', `docker ${request.action} failed: ${errorSummary(r, 3)}`)
      const after = (await deps.containers.managed()).filter((c) => candidates.some((k) => k.id === c.id))
      return {
        service: request.service,
        action: request.action,
        containers: after.map(({ name, project, service, image, state, health, exit_code, restart_count, started_at }) => ({ name, project, service, image, state, health, exit_code, restart_count, started_at })),
      }
    },
  }
}

export type ContainerActions = ReturnType<typeof createContainerActions>
