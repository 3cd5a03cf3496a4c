import type { DeviceSession } from './device-session.js'

/**
 * The live tunnels, one per device. Every close path goes through `remove`,
 * and `remove` only drops the entry if it is still the same session, so a
 * late close of a replaced session never evicts its successor.
 */
export function createTunnelRegistry() {
  const byDevice = new Map<string, DeviceSession>()

  return {
    /** Registers a session and returns the one it replaces, which the caller closes. */
    register(session: DeviceSession): DeviceSession | undefined {
      const previous = byDevice.get(session.device.id)
      byDevice.set(session.device.id, session)
      return previous
    },
    remove(session: DeviceSession): boolean {
      if (byDevice.get(session.device.id) !== session) return false
      byDevice.delete(session.device.id)
      return true
    },
    get(deviceUuid: string): DeviceSession | undefined {
      return byDevice.get(deviceUuid)
    },
    get size() {
      return byDevice.size
    },
    sessions(): IterableIterator<DeviceSession> {
      return byDevice.values()
    },
  }
}

export type TunnelRegistry = ReturnType<typeof createTunnelRegistry>
