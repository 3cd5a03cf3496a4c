/**
 * What bench/tunnel's gateway child needs of the server, in one entry point that
 * `node scripts/bundle.mjs bench` bundles as the CLI bundle is built: the bench then
 * measures the gateway as `edgetainer server` runs it.
 */
export { loadConfig } from '../../server/config/load-config.js'
export { createLogger } from '../../server/logger.js'
export { startServer } from '../../server/main.js'
export { parsePublicKey } from '../../server/devices/device-keys.js'
