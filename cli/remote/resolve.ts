import type { ApiClient } from './api-client.js'
import { device as deviceSchema, fleetPage, softwarePage, type Device } from './api-schemas.js'
import { CliError, EXIT, oneLine, usageError } from './cli-error.js'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** What a user may type for a device: its device_id or its UUID, as the API takes them. */
const deviceRef = /^[A-Za-z0-9._-]{1,100}$/

export function checkDeviceRef(ref: string): string {
  if (!deviceRef.test(ref)) throw usageError(`"${oneLine(ref, 80)}" is not a device id: use letters, digits, dot, dash or underscore`)
  return ref
}

export async function getDevice(api: ApiClient, ref: string): Promise<Device> {
  return api.get(deviceSchema, `/api/devices/${encodeURIComponent(checkDeviceRef(ref))}`, { notFound: `device "${ref}"` })
}

/** A name the API searches by substring: pick the exact match, case-sensitively first. */
function exact<T extends { id: string; name: string }>(items: T[], name: string, what: string): T {
  const hits = items.filter((i) => i.name === name)
  const found = hits.length ? hits : items.filter((i) => i.name.toLowerCase() === name.toLowerCase())
  if (found.length === 1) return found[0]!
  if (found.length > 1) throw usageError(`${found.length} ${what}s are named "${oneLine(name, 80)}"; give the id instead`)
  throw new CliError(EXIT.notFound, `${what} "${oneLine(name, 80)}" not found`)
}

function checkName(name: string, what: string): string {
  if (!name.trim() || name.length > 100) throw usageError(`a ${what} name is 1 to 100 characters`)
  return name
}

/** A fleet by UUID or by exact name. */
export async function fleetId(api: ApiClient, ref: string): Promise<string> {
  if (uuid.test(ref)) return ref.toLowerCase()
  const page = await api.get(fleetPage, '/api/fleets', { query: { q: checkName(ref, 'fleet'), limit: 500 } })
  return exact(page.items, ref, 'fleet').id
}

/** A software by UUID or by exact name. */
export async function softwareRef(api: ApiClient, ref: string): Promise<{ id: string; name: string }> {
  if (uuid.test(ref)) return { id: ref.toLowerCase(), name: ref }
  const page = await api.get(softwarePage, '/api/software', { query: { q: checkName(ref, 'software'), limit: 500 } })
  return exact(page.items, ref, 'software')
}
