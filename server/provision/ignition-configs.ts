import { renderButane } from '../../ignition/render-butane.js'
import { renderIgnition, type IgnitionConfig } from '../../ignition/render-ignition.js'
import type { ProvisioningInput } from '../../ignition/provisioning-input.js'
import { DomainError } from '../errors.js'
import type { AgentExecutable } from './agent-executable.js'
import { loopbackProblem } from './gateway-endpoints.js'
import type { RegistrationTokens, UsableToken } from './registration-tokens.js'

export type IgnitionFormat = 'ignition' | 'butane'

export interface GatewayEndpoints {
  /** How devices reach the API (registration, the agent download). */
  url: string
  /** Where devices dial their tunnel. */
  ssh: { host: string; port: number }
}

/** A config that would point the device at itself: refused unless the caller allows it (lab tests on one machine). */
export class LoopbackEndpointError extends DomainError {
  constructor(message: string) {
    super('LOOPBACK_ENDPOINT', message, 'public_url')
  }
}

export interface RenderOptions {
  /** Render even when the device-facing URL or SSH host is a loopback address. */
  allowLoopback?: boolean
}

export type RenderedConfig =
  | { format: 'ignition'; config: IgnitionConfig; token: UsableToken }
  | { format: 'butane'; config: string; token: UsableToken }

/**
 * Per-device provisioning configs: a usable registration token plus what the
 * gateway knows about itself (endpoints, host key, terminal key, the agent
 * executable's hash) become an Ignition config. Shared by the HTTP route and
 * the offline CLI, which differ only in where the endpoints come from.
 */
export function createIgnitionConfigs(deps: {
  tokens: Pick<RegistrationTokens, 'findUsable'>
  agent: AgentExecutable
  endpoints: () => GatewayEndpoints
  hostPublicKey: string
  terminalPublicKey: string
  /** The gateway's SSH user CA, trusted by the device's sshd. */
  userCaPublicKey?: string
  /** The device user the web terminal logs in as; it gets the keys. */
  user: string
}) {
  /** The renderer's input for a token; throws the token's 404/410 or the executable's 503 first, then a loopback refusal. */
  async function inputFor(tokenValue: string, render: RenderOptions): Promise<{ input: ProvisioningInput; token: UsableToken }> {
    const token = await deps.tokens.findUsable(tokenValue)
    const agent = await deps.agent.info()
    const endpoints = deps.endpoints()
    const problem = render.allowLoopback ? undefined : loopbackProblem(endpoints)
    if (problem) throw new LoopbackEndpointError(`refusing to render this config: ${problem}`)
    const { url, ssh } = endpoints
    const { options } = token
    const input: ProvisioningInput = {
      gateway: { url, sshHost: ssh.host, sshPort: ssh.port, hostKey: deps.hostPublicKey, terminalPublicKey: deps.terminalPublicKey, userCaPublicKey: deps.userCaPublicKey },
      token: tokenValue,
      agentExecutable: { url: agentDownloadUrl(url), sha512: agent.sha512 },
      hostname: options.hostname,
      user: deps.user,
      sshAuthorizedKeys: options.ssh_keys ?? [],
      network: options.network ?? { dhcp: true },
    }
    return { input, token }
  }

  async function render(tokenValue: string, format: IgnitionFormat = 'ignition', options: RenderOptions = {}): Promise<RenderedConfig> {
    const { input, token } = await inputFor(tokenValue, options)
    if (format === 'butane') return { format, config: renderButane(input), token }
    return { format, config: renderIgnition(input), token }
  }

  /**
   * What a config rendered now would tell a device, for the console to show
   * before the download: the endpoints, whether they are loopback (and why
   * that matters), and the agent it would pin (null until it is built).
   */
  async function describe() {
    const endpoints = deps.endpoints()
    const problem = loopbackProblem(endpoints)
    const agent = await deps.agent.info().then(
      (a) => ({ url: agentDownloadUrl(endpoints.url), sha512: a.sha512, size: a.size }),
      (err: unknown) => {
        if (err instanceof DomainError) return null
        throw err
      },
    )
    return { server_url: endpoints.url, ssh: { ...endpoints.ssh }, loopback: problem !== undefined, problem: problem ?? null, agent }
  }

  return { render, describe }
}

/** The URL Ignition downloads the agent from; the config pins its sha512. */
export function agentDownloadUrl(gatewayUrl: string): string {
  return `${gatewayUrl.replace(/\/+$/, '')}/api/provision/agent/linux-x64`
}

export type IgnitionConfigs = ReturnType<typeof createIgnitionConfigs>
