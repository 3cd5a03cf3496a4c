import type { DeviceRow } from '../../db/schema.js'

/** The device as the API shows it. One function, so every route answers the same shape. */
export function deviceView(device: DeviceRow) {
  return {
    id: device.id,
    device_id: device.device_id,
    name: device.name,
    fleet_id: device.fleet_id,
    status: device.status,
    last_seen: device.last_seen,
    ip_address: device.ip_address,
    os_version: device.os_version,
    hardware_info: device.hardware_info,
    ssh_port: device.ssh_port,
    subdomain: device.subdomain,
    subdomain_enabled: device.subdomain_enabled,
    public_key: device.public_key,
    public_key_fingerprint: device.public_key_fingerprint,
    labels: device.labels ?? {},
    created_at: device.created_at,
    updated_at: device.updated_at,
  }
}

/** One device with its newest heartbeat metrics (lists leave them out and stay one query). */
export function deviceDetailView(device: DeviceRow, metrics: unknown) {
  return { ...deviceView(device), metrics: metrics ?? null }
}
