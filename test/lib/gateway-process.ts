/**
 * A gateway in a process of its own, for tests that kill it: started with
 * startServer exactly as `edgetainer server` starts it, from the EDGETAINER_*
 * and DATABASE_URL variables the parent passes. It prints one JSON line
 * once it listens.
 */
import { loadConfig } from '../../server/config/load-config.js'
import { createLogger } from '../../server/logger.js'
import { startServer } from '../../server/main.js'

const config = loadConfig({ env: process.env })
const server = await startServer(config, createLogger(config.logLevel), {
  agentHeartbeatSeconds: Number(process.env.TEST_AGENT_HEARTBEAT_SECONDS ?? 1),
})
process.stdout.write('GATEWAY_READY ' + JSON.stringify({ httpPort: server.httpPort, sshPort: server.sshPort, hostPublicKey: server.hostPublicKey }) + '\n')
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0))
})
