import { renderButane } from '../../ignition/render-butane.js'
import { renderIgnition, type IgnitionConfig } from '../../ignition/render-ignition.js'
import type { ProvisioningInput } from '../../ignition/provisioning-input.js'
import type { ReleaseStore } from '../releases/release-store.js'
import type { AgentArch } from '../../shared/agent-release.js'
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
  /** The built agent, imported into the gateway's content-addressed store the first time a config names it. */
  agent: Pick<ReleaseStore, 'current'>
  /** The release public key (`ed25519:…`) the agent pins to verify its updates. */
  releaseKey: string
  endpoints: () => GatewayEndpoints
  hostPublicKey: string
  terminalPublicKey: string
  /** The device user the web terminal logs in as; it gets the keys. */
  user: string
}) {
  /** The renderer's input for a token; throws the token's 404/410 or the executable's 503 first. */
  async function inputFor(tokenValue: string, arch: AgentArch): Promise<{ input: ProvisioningInput; token: UsableToken }> {
    const token = await deps.tokens.findUsable(tokenValue)
    const agent = await deps.agent.current(arch)
    const { url, ssh } = deps.endpoints()
    const { options } = token
    const input: ProvisioningInput = {
      gateway: { url, sshHost: ssh.host, sshPort: ssh.port, hostKey: deps.hostPublicKey, terminalPublicKey: deps.terminalPublicKey, releaseKey: deps.releaseKey },
      token: tokenValue,
      agentExecutable: { url: agentDownloadUrl(url, agent.sha512), sha512: agent.sha512 },
      hostname: options.hostname,
      user: deps.user,
      sshAuthorizedKeys: options.ssh_keys ?? [],
      network: options.network ?? { dhcp: true },
    }
    return { input, token }
  }

  async function render(tokenValue: string, format: IgnitionFormat = 'ignition', arch: AgentArch = 'x64'): Promise<RenderedConfig> {
    const { input, token } = await inputFor(tokenValue, arch)
    if (format === 'butane') return { format, config: renderButane(input), token }
    return { format, config: renderIgnition(input), token }
  }

  return { render }
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
