import { stringify } from 'yaml'
import type { ParsedProvisioningInput, StaticNetwork } from './provisioning-input.js'

/** Where Ignition puts the agent and its config on the device. */
export const AGENT_BINARY_PATH = '/opt/bin/edgetainer-agent'
export const AGENT_CONFIG_PATH = '/etc/edgetainer/agent.yaml'
export const AGENT_UNIT_NAME = 'edgetainer-agent.service'
/** Sorts before Flatcar's catch-all `zz-default.network` (DHCP on every link), so it wins for the links it matches. */
export const STATIC_NETWORK_PATH = '/etc/systemd/network/00-edgetainer-static.network'
/** The gateway's SSH user CA, and the sshd drop-in that trusts it (Flatcar's sshd_config includes sshd_config.d). */
export const USER_CA_PATH = '/etc/ssh/edgetainer_user_ca.pub'
export const USER_CA_DROPIN_PATH = '/etc/ssh/sshd_config.d/50-edgetainer-user-ca.conf'

/**
 * sshd accepts a certificate from this CA only for a login named among its
 * principals; the gateway names just the device user (core), and adds
 * source-address=127.0.0.1,::1, so a certificate works only through the
 * device's tunnel, where the gateway decides which device it opens.
 */
export function userCaDropIn(): string {
  return [
    '# Written by Ignition: trust short-lived certificates from the Edgetainer gateway (docs/admin-access.md).',
    `TrustedUserCAKeys ${USER_CA_PATH}`,
    '',
  ].join('\n')
}

/** Wired NICs under predictable and classic names; docker0 and veths stay out. */
const DEFAULT_INTERFACES = 'en* eth*'

/**
 * The agent's config file. Only what the device cannot know by itself: where
 * the gateway is, which host key to pin, and the token to register with. The
 * agent generates its own key pair into data_dir on first start.
 */
export function agentConfigYaml(input: ParsedProvisioningInput): string {
  const doc = {
    server_url: input.gateway.url,
    ssh_host: input.gateway.sshHost,
    ssh_port: input.gateway.sshPort,
    host_key: input.gateway.hostKey,
    token: input.token,
    data_dir: input.agentDataDir,
    ...(input.gateway.releaseKey ? { release_key: input.gateway.releaseKey } : {}),
  }
  return `# Written by Ignition from the Edgetainer gateway's provisioning config.\n${stringify(doc, { lineWidth: 0 })}`
}

/**
 * The agent's unit. docker.service is socket-activated on Flatcar, so Wants=
 * starts it rather than waiting for the first docker call; Restart=always with
 * a pause keeps the tunnel coming back without hammering a gateway that is down,
 * and is also how a self-update takes effect: the agent swaps its executable and exits.
 */
export function agentUnit(): string {
  return [
    '[Unit]',
    'Description=Edgetainer device agent (gateway tunnel and compose runner)',
    'Wants=network-online.target docker.service',
    'After=network-online.target docker.service',
    `ConditionPathExists=${AGENT_CONFIG_PATH}`,
    '',
    '[Service]',
    `ExecStart=${AGENT_BINARY_PATH} agent --config ${AGENT_CONFIG_PATH}`,
    'Restart=always',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n')
}

/** A systemd-networkd file giving the wired interface a fixed address instead of DHCP. */
export function staticNetworkFile(network: StaticNetwork): string {
  return [
    '[Match]',
    `Name=${network.interface ?? DEFAULT_INTERFACES}`,
    '',
    '[Network]',
    `Address=${network.address}`,
    ...(network.gateway ? [`Gateway=${network.gateway}`] : []),
    ...network.dns.map((dns) => `DNS=${dns}`),
    '',
  ].join('\n')
}
