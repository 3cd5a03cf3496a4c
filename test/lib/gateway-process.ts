/**
 * A gateway in a process of its own, for tests that kill it: started with
 * startServer exactly as `edgetainer server` starts it (with its unexpected-
 * error guard), from the EDGETAINER_* and DATABASE_URL variables the parent
 * passes. It prints one JSON line once it listens.
 *
 * TEST_RAISE_UNEXPECTED_ERRORS=1 makes it throw from a timer and leave a
 * promise rejection unhandled once it listens: the errors the guard exists for.
 */
import { loadConfig } from '../../server/config/load-config.js'
import { createLogger } from '../../server/logger.js'
import { startServer } from '../../server/main.js'
import { TEST_SCRYPT_COST } from './test-gateway.js'
import { installUnexpectedErrorGuard } from '../../server/unexpected-error-guard.js'

const config = loadConfig({ env: process.env })
const logger = createLogger(config.logLevel)
const server = await startServer(config, logger, {
  agentHeartbeatSeconds: Number(process.env.TEST_AGENT_HEARTBEAT_SECONDS ?? 1),
  // The hashing cost is not what these gateways test; OWASP's is proven in passwords.test.ts.
  passwordHashing: { cost: TEST_SCRYPT_COST },
})
installUnexpectedErrorGuard({ logger, metrics: server.metrics })
// A test process that dies (tap's timeout, a kill) must not leave this gateway running: it would keep
// ports of a port block the next test process takes over, and answer there for a database long dropped.
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.exit(1)
}, 500).unref()
process.stdout.write('GATEWAY_READY ' + JSON.stringify({ httpPort: server.httpPort, sshPort: server.sshPort, hostPublicKey: server.hostPublicKey }) + '\n')
process.on('SIGTERM', () => {
  void server
    .drain()
    .then(() => server.close())
    .then(() => process.exit(0))
})
if (process.env.TEST_RAISE_UNEXPECTED_ERRORS === '1') {
  setTimeout(() => {
    throw new Error('thrown from a timer, caught by nobody')
  }, 10)
  setTimeout(() => void Promise.reject(new Error('rejected, awaited by nobody')), 20)
}
