import type { Duplex } from 'node:stream'
import type { ErrorCode } from '../error-codes.js'

/**
 * What the proxy, the terminal, TCP services, agent control and the jump host
 * need of a device's tunnel: channels to what it forwards. A local
 * DeviceSession is one; a device held by another node is reached through a
 * RemoteDevice that opens the same channels over the peer channel.
 */
export interface DeviceChannels {
  readonly device: { readonly id: string; readonly device_id?: string }
  /** True once the tunnel is gone (always false for a remote device: the owner answers for it). */
  readonly closed: boolean
  /** For a device another node holds: that node's id. */
  readonly ownerNode?: string
  /** Locally the forward list; for a remote device always true, and the owner refuses a missing forward. */
  hasServiceForward(name: string, port: number): boolean
  openServiceChannel(name: string, port: number, origin: { address: string; port: number }): Promise<Duplex>
  openSshChannel(): Promise<Duplex>
}

/** The local session when this node holds the device's tunnel, else the owning node's, else undefined (offline). */
export type LocateDevice = (deviceUuid: string) => Promise<DeviceChannels | undefined>

/**
 * Why a forwarded channel could not be opened, with the code the caller shows
 * (all 502 in the error table): consumers map it onto their own answer.
 */
export class ForwardError extends Error {
  override name = 'ForwardError'
  constructor(
    readonly code: Extract<ErrorCode, 'FORWARD_LOOP' | 'PEER_UNREACHABLE' | 'SERVICE_NOT_CONNECTED' | 'SERVICE_UNREACHABLE' | 'DEVICE_OFFLINE'>,
    message: string,
  ) {
    super(message)
  }
}
