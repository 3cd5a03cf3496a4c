import type { Duplex } from 'node:stream'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import type { Logger } from '../logger.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'
import { STALE_AFTER_BEATS } from './node-registry.js'
import { ForwardError, type DeviceChannels, type LocateDevice } from './device-channels.js'
import type { PeerClient } from './peer-client.js'
import type { PeerTarget } from './peer-listener.js'

interface Owner {
  node: string
  peerUrl: string
}

/** Cached lookups are bounded: past this many devices the cache starts again (it is a short-lived hint, not state). */
const MAX_CACHED = 50_000

/**
 * Finds who holds a device's tunnel: this node (the local registry), another
 * live node (devices.owner_node joined to a fresh gateway_nodes row with a
 * peer URL, cached for `cacheMs`), or nobody (offline). A device held by
 * another node is a RemoteDevice whose channels travel over the peer channel.
 */
export function createDeviceLocator(deps: { db: Kysely<Database>; registry: TunnelRegistry; nodeId: () => string; peers: PeerClient; cacheMs: number; logger: Logger }) {
  const { db, registry, nodeId, peers, logger } = deps
  const cache = new Map<string, { owner: Owner | undefined; until: number }>()
  /** One RemoteDevice per (device, owner): tunnel agents key their keep-alive pools on it. */
  const remotes = new Map<string, RemoteDevice>()

  async function readOwner(deviceUuid: string): Promise<Owner | undefined> {
    const row = await db
      .selectFrom('devices')
      .innerJoin('gateway_nodes', 'gateway_nodes.id', 'devices.owner_node')
      .select(['gateway_nodes.id as node', 'gateway_nodes.peer_url as peerUrl'])
      .where('devices.id', '=', deviceUuid)
      .where('gateway_nodes.id', '<>', nodeId())
      .where('gateway_nodes.peer_url', 'is not', null)
      .where(sql<boolean>`gateway_nodes.heartbeat_at >= now() - make_interval(secs => gateway_nodes.heartbeat_interval_ms * ${STALE_AFTER_BEATS} / 1000.0)`)
      .executeTakeFirst()
    return row?.peerUrl ? { node: row.node, peerUrl: row.peerUrl } : undefined
  }

  async function owner(deviceUuid: string, fresh: boolean): Promise<Owner | undefined> {
    const now = Date.now()
    const hit = cache.get(deviceUuid)
    if (!fresh && hit && hit.until > now) return hit.owner
    const found = await readOwner(deviceUuid)
    if (cache.size >= MAX_CACHED) cache.clear()
    // Only an owner is remembered. "Nobody holds it" is read again each time: a device that is just
    // connecting (or a lookup made before it connected, e.g. a nudge for a service created first) must
    // not read as offline for the whole cache time.
    if (found && deps.cacheMs > 0) cache.set(deviceUuid, { owner: found, until: now + deps.cacheMs })
    else cache.delete(deviceUuid)
    return found
  }

  function remoteFor(deviceUuid: string, found: Owner): RemoteDevice {
    const key = `${deviceUuid}@${found.node}@${found.peerUrl}`
    let remote = remotes.get(key)
    if (!remote) {
      if (remotes.size >= MAX_CACHED) remotes.clear()
      remotes.set(key, (remote = new RemoteDevice(deviceUuid, found, open)))
    }
    return remote
  }

  /**
   * Opens a channel at the owner; when the owner says it no longer holds the
   * device (ownership just moved), re-reads the owner and tries once more, on
   * the local tunnel if the device came here.
   */
  async function open(first: Owner, target: PeerTarget): Promise<Duplex> {
    try {
      return await peers.open(first.peerUrl, target)
    } catch (err) {
      if (!(err instanceof ForwardError) || (err.code !== 'FORWARD_LOOP' && err.code !== 'PEER_UNREACHABLE')) throw err
      const local = registry.get(target.device)
      if (local) return target.kind === 'ssh' ? local.openSshChannel() : local.openServiceChannel(target.name, target.port, { address: '127.0.0.1', port: 0 })
      const next = await owner(target.device, true)
      if (!next || (next.node === first.node && next.peerUrl === first.peerUrl)) {
        logger.debug({ device: target.device, owner: first.node, code: err.code, reason: err.message }, 'forwarding failed, and the owner did not change')
        throw err
      }
      logger.debug({ device: target.device, from: first.node, to: next.node }, 'ownership moved: retrying once at the new owner')
      return peers.open(next.peerUrl, target)
    }
  }

  const locate: LocateDevice = async (deviceUuid) => {
    const local = registry.get(deviceUuid)
    if (local) return local
    const found = await owner(deviceUuid, false)
    return found ? remoteFor(deviceUuid, found) : undefined
  }

  return {
    locate,
    /** Forgets what is cached about one device (its session just changed here). */
    forget(deviceUuid: string) {
      cache.delete(deviceUuid)
    },
  }
}

/** A device whose tunnel another node holds: every channel is a peer call to that node. */
class RemoteDevice implements DeviceChannels {
  readonly device: { id: string }
  readonly closed = false
  readonly ownerNode: string
  readonly #owner: Owner
  readonly #open: (owner: Owner, target: PeerTarget) => Promise<Duplex>

  constructor(deviceUuid: string, owner: Owner, open: (owner: Owner, target: PeerTarget) => Promise<Duplex>) {
    this.device = { id: deviceUuid }
    this.ownerNode = owner.node
    this.#owner = owner
    this.#open = open
  }

  hasServiceForward(): boolean {
    return true
  }

  openServiceChannel(name: string, port: number): Promise<Duplex> {
    return this.#open(this.#owner, { device: this.device.id, kind: 'service', name: name.toLowerCase(), port })
  }

  openSshChannel(): Promise<Duplex> {
    return this.#open(this.#owner, { device: this.device.id, kind: 'ssh' })
  }
}

export type DeviceLocator = ReturnType<typeof createDeviceLocator>
