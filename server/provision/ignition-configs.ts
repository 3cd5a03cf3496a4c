import { renderButane } from '../../ignition/render-butane.js'
import { renderIgnition, type IgnitionConfig } from '../../ignition/render-ignition.js'
import type { ProvisioningInput } from '../../ignition/provisioning-input.js'
import type { AgentExecutable } from './agent-executable.js'
import type { RegistrationTokens, UsableToken } from './registration-tokens.js'

export type IgnitionFormat = 'ignition' | 'butane'

export interface GatewayEndpoints {
  /** How devices reach the API (registration, the agent download). */
  url: string
  /** Where devices dial their tunnel. */
  ssh: { host: string; port: number }
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
  /** The renderer's input for a token; throws the token's 404/410 or the executable's 503 first. */
  async function inputFor(tokenValue: string): Promise<{ input: ProvisioningInput; token: UsableToken }> {
    const token = await deps.tokens.findUsable(tokenValue)
    const agent = await deps.agent.info()
    const { url, ssh } = deps.endpoints()
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

  async function render(tokenValue: string, format: IgnitionFormat = 'ignition'): Promise<RenderedConfig> {
    const { input, token } = await inputFor(tokenValue)
    if (format === 'butane') return { format, config: renderButane(input), token }
    return { format, config: renderIgnition(input), token }
  }

  return { render }
}

/** The URL Ignition downloads the agent from; the config pins its sha512. */
export function agentDownloadUrl(gatewayUrl: string): string {
  return `${gatewayUrl.replace(/\/+$/, '')}/api/provision/agent/linux-x64`
}

export type IgnitionConfigs = ReturnType<typeof createIgnitionConfigs>
