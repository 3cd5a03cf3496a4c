import { Command } from 'commander'
import { packageVersion } from '../server/version.js'
import { agentExpectedErrors, runAgentCommand } from './agent-command.js'

/**
 * Entry of the single-executable agent that `make agent` builds
 * (/opt/bin/edgetainer-agent on a device). Only the agent command, so the
 * executable carries none of the gateway. `agent` is the default command:
 * `edgetainer-agent agent --config f` (what the Ignition unit runs, the same
 * words as `edgetainer agent`) and `edgetainer-agent --config f` both work.
 */
const DEFAULT_CONFIG = '/etc/edgetainer/agent.yaml'

function fail(err: unknown): never {
  if (agentExpectedErrors.some((type) => err instanceof type)) {
    process.stderr.write(`edgetainer-agent: ${(err as Error).message}\n`)
  } else {
    process.stderr.write(`edgetainer-agent: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`)
  }
  process.exit(1)
}

const version = packageVersion()
const program = new Command('edgetainer-agent').description('Edgetainer device agent').version(version).showHelpAfterError()

program
  .command('agent', { isDefault: true })
  .description('register with the gateway once, hold the tunnel and run the assigned compose stacks')
  .option('-c, --config <file>', 'agent.yaml (EDGETAINER_AGENT_* variables override it)', DEFAULT_CONFIG)
  .action(async (opts: { config: string }) => {
    await runAgentCommand({ config: opts.config, version })
  })

program.parseAsync(process.argv).catch(fail)
