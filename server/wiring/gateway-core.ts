/*
 * What every area of the gateway is wired with: the config, the caller's start options, the logger,
 * the migrated database, the event bus, the close stack and the master key. startServer builds it once
 * and hands it to each area's wiring function in start order (server/main.ts).
 */
import type { Config } from '../config/config-schema.js'
import type { Logger } from '../logger.js'
import type { DatabaseHandle } from '../db/open-database.js'
import type { GatewayEvents } from '../events/gateway-events.js'
import type { createCloseStack } from '../lifecycle/close-stack.js'
import type { loadMasterKey } from '../secrets/master-key.js'
import type { BoundPorts } from '../http/gateway-addresses.js'
import type { StartOptions } from '../start-options.js'

export interface GatewayCore {
  readonly config: Config
  readonly options: StartOptions
  readonly logger: Logger
  readonly database: DatabaseHandle
  readonly db: DatabaseHandle['db']
  readonly events: GatewayEvents
  /** Every part that runs pushes its close here; shutdown and a failed start unwind it in reverse. */
  readonly closers: ReturnType<typeof createCloseStack>
  readonly masterKey: ReturnType<typeof loadMasterKey>
  /**
   * The listeners' ports, known once they listen (tests bind port 0). Parts created before that read
   * them lazily, through `ports` or these fields at call time.
   */
  readonly bound: { http: number; https: number | undefined; ssh: number }
  readonly ports: BoundPorts
}
