import { renderButane } from '../../ignition/render-butane.js'
import { renderIgnition, type IgnitionConfig } from '../../ignition/render-ignition.js'
import type { ProvisioningInput } from '../../ignition/provisioning-input.js'
import { DomainError } from '../errors.js'
import type { ReleaseStore } from '../releases/release-store.js'
import type { AgentArch } from '../../shared/agent-release.js'
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
  /** The device's CPU: which agent executable the config pins (x64 by default). */
  arch?: AgentArch
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
  /** The built agent, imported into the gateway's content-addressed store the first time a config names it. */
  agent: Pick<ReleaseStore, 'current'>
  /** The release public key (`ed25519:…`) the agent pins to verify its updates. */
  releaseKey: string
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
    const agent = await deps.agent.current(render.arch ?? 'x64')
    const endpoints = deps.endpoints()
    const problem = render.allowLoopback ? undefined : loopbackProblem(endpoints)
    if (problem) throw new LoopbackEndpointError(`refusing to render this config: ${problem}`)
    const { url, ssh } = endpoints
    const { options } = token
    const input: ProvisioningInput = {
      gateway: { url, sshHost: ssh.host, sshPort: ssh.port, hostKey: deps.hostPublicKey, terminalPublicKey: deps.terminalPublicKey, userCaPublicKey: deps.userCaPublicKey, releaseKey: deps.releaseKey },
      token: tokenValue,
      agentExecutable: { url: agentDownloadUrl(url, agent.sha512), sha512: agent.sha512 },
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
    const agent = await deps.agent.current('x64').then(
      (a) => ({ url: agentDownloadUrl(endpoints.url, a.sha512), sha512: a.sha512, size: a.size }),
      (err: unknown) => {
        if (err instanceof DomainError) return null
        throw err
      },
    )
    return { server_url: endpoints.url, ssh: { ...endpoints.ssh }, loopback: problem !== undefined, problem: problem ?? null, agent }
  }

  return { render, describe }
}

/**
 * The URL Ignition downloads the agent from: content-addressed, so it names
 * this very executable for as long as the gateway keeps its release store
 * (for ever), whatever `make agent` builds later. The config pins the sha512 too.
 */
export function agentDownloadUrl(gatewayUrl: string, sha512: string): string {
  return `${gatewayUrl.replace(/\/+$/, '')}/api/provision/agent/${sha512}`
}

export type IgnitionConfigs = ReturnType<typeof createIgnitionConfigs>
