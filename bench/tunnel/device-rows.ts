import type { ParsedPublicKey } from '../../server/devices/device-keys.js'

/**
 * The devices table rows of the scale phase's fleet, as the API would make
 * them (but written in bulk: the API would take minutes for 10,000): each
 * device named after its id, offline, with the next loopback port from
 * firstPort. parse is server/devices/device-keys.ts parsePublicKey, passed in
 * because gateway-child.ts loads it from the gateway's bundle.
 */
export function deviceRows(devices: { device_id: string; public_key: string }[], firstPort: number, parse: (text: string) => ParsedPublicKey) {
  return devices.map((d, i) => {
    const key = parse(d.public_key)
    return {
      device_id: d.device_id,
      name: d.device_id,
      status: 'offline' as const,
      ssh_port: firstPort + i,
      subdomain: d.device_id,
      public_key: key.line,
      public_key_fingerprint: key.fingerprint,
    }
  })
}
