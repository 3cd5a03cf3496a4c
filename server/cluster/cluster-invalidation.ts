import type { GatewayEvents } from '../events/gateway-events.js'
import type { LiveAccess } from '../auth/live-access.js'
import type { ClusterNotifications } from './cluster-notifications.js'

/**
 * Wires the gateway's caches to the cluster channel. Local changes that other
 * nodes cache go out; other nodes' changes come in as the same local events,
 * so every existing listener (route table, TCP listeners, ACME, tunnels whose
 * device was deleted, agent nudges for the device tunnels held HERE) reacts to
 * them exactly as to its own node's changes:
 *  - device.changed / service.changed: both ways, through the event bus;
 *  - users (sign-out, disable, password, demotion, revoked token): liveAccess
 *    re-checks that user's terminals and event streams on every node at once;
 *  - certificates: a node that stored a new one tells the others to load it.
 */
export function bridgeClusterInvalidation(deps: {
  notifications: ClusterNotifications
  events: GatewayEvents
}) {
  const { notifications, events } = deps
  // Set while a remote notice is replayed on the local bus (emit is synchronous), so it is not sent back out.
  let replaying = false
  const replay = (emit: () => void) => {
    replaying = true
    try {
      emit()
    } finally {
      replaying = false
    }
  }

  if (notifications.enabled) {
    events.on('device.changed', ({ id, device_id }) => {
      if (!replaying) notifications.publish({ kind: 'device', id, device_id })
    })
    events.on('service.changed', ({ device_uuid }) => {
      if (!replaying) notifications.publish({ kind: 'service', device_uuid })
    })
  }

  let recheckUser: LiveAccess['recheckUser'] | undefined
  let reloadCertificates: (() => Promise<void>) | undefined
  notifications.on((notice) => {
    switch (notice.kind) {
      case 'device':
        return replay(() => events.emit('device.changed', { id: notice.id, device_id: notice.device_id }))
      case 'service':
        return replay(() => events.emit('service.changed', { device_uuid: notice.device_uuid }))
      case 'user':
        return void recheckUser?.(notice.id, notice.hint)
      case 'certificate':
        return void reloadCertificates?.()
    }
  })

  return {
    /** The liveAccess every route uses: a re-check of a user runs here and on every other node. */
    liveAccess(inner: LiveAccess): LiveAccess {
      recheckUser = inner.recheckUser
      return {
        ...inner,
        get size() {
          return inner.size
        },
        async recheckUser(userId, hint) {
          notifications.publish({ kind: 'user', id: userId, hint })
          await inner.recheckUser(userId, hint)
        },
      }
    },
    /** How this node loads certificates other nodes stored (TLS is wired after the bridge). */
    onCertificate(reload: () => Promise<void>) {
      reloadCertificates = reload
    },
    /** A certificate this node stored: the others load it instead of ordering their own. */
    certificateStored(name: string) {
      notifications.publish({ kind: 'certificate', name })
    },
  }
}

export type ClusterInvalidation = ReturnType<typeof bridgeClusterInvalidation>
