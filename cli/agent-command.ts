import { AgentConfigError, loadAgentConfig } from '../agent/config/agent-config.js'
import { createAgentLogger } from '../agent/agent-logger.js'
import { IdentityCorruptError } from '../agent/identity/identity-store.js'
import { RegistrationRefusedError } from '../agent/identity/register.js'
import { startAgent } from '../agent/main.js'

/** The exit code after a self-update or its rollback: systemd's Restart=always starts the executable now in place. */
export const AGENT_RESTART_EXIT_CODE = 75

/** Errors whose message is the whole story. */
export const agentExpectedErrors = [AgentConfigError, RegistrationRefusedError, IdentityCorruptError]

/**
 * `edgetainer agent`: register once, hold the tunnel, run the stacks; stop
 * cleanly on SIGTERM/SIGINT (systemd stops it with SIGTERM).
 */
export async function runAgentCommand(options: { config?: string; version: string }): Promise<void> {
  const config = loadAgentConfig({ file: options.config })
  const logger = createAgentLogger(config.log_level)
  const abort = new AbortController()
  let stop: (() => Promise<void>) | undefined
  let stopping = false
  const onSignal = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down')
    // A deploy in flight gets a while to roll back cleanly, not forever.
    setTimeout(() => process.exit(1), 30_000).unref()
    abort.abort()
    void (stop ? stop() : Promise.resolve()).then(() => process.exit(0))
  }
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  process.on('SIGINT', () => onSignal('SIGINT'))
  // Self-update: exit cleanly (the outbox is on disk) and let the supervisor start the new executable.
  const restart = (reason: string) => {
    if (stopping) return
    stopping = true
    logger.info({ reason }, 'restarting')
    setTimeout(() => process.exit(AGENT_RESTART_EXIT_CODE), 30_000).unref()
    abort.abort()
    void (stop ? stop() : Promise.resolve()).then(() => process.exit(AGENT_RESTART_EXIT_CODE))
  }
  const agent = await startAgent(config, logger, { version: options.version, signal: abort.signal, restart })
  if (!agent) return
  stop = () => agent.close()
  if (stopping) await agent.close().then(() => process.exit(0))
}
