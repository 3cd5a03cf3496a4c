import { Command, Option } from 'commander'
import { loadConfig, ConfigError } from '../server/config/load-config.js'
import { createLogger } from '../server/logger.js'
import { DatabaseUnavailableError } from '../server/db/open-database.js'
import { MigrationError } from '../server/db/migrate.js'
import { ListenError } from '../server/http/listen.js'
import { DomainError } from '../server/errors.js'
import { packageVersion } from '../server/version.js'
import { runServerCommand } from './server-command.js'
import { parseWorkersFlag } from './worker-plan.js'
import { runMigrateCommand } from './migrate-command.js'
import { registerUserCommands } from './user-commands.js'
import { registerIgnitionCommand } from './ignition-command.js'
import { registerVerifyIgnitionCommand } from './ignition-verify.js'
import { registerCompletionCommand, registerRemoteCommands } from './remote/remote-commands.js'

/** Errors whose message is the whole story: print one line, no stack. */
const expectedErrors = [ConfigError, DatabaseUnavailableError, MigrationError, ListenError, DomainError]

function fail(err: unknown): never {
  if (expectedErrors.some((type) => err instanceof type)) {
    process.stderr.write(`edgetainer: ${(err as Error).message}\n`)
  } else {
    process.stderr.write(`edgetainer: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`)
    if (process.env.EDGETAINER_DEBUG) console.error(err)
  }
  process.exit(1)
}

const program = new Command('edgetainer')
  .description('Fleet gateway for edge devices behind NAT')
  .version(packageVersion())
  .showHelpAfterError()

const configOption = new Option('-c, --config <file>', 'YAML config file (environment variables override it)')

program
  .command('server')
  .description('run the gateway: API, console, SSH tunnels and the subdomain proxy')
  .addOption(configOption)
  .option('-w, --workers <n>', 'gateway processes on this host, sharing its ports (default: one per core with PostgreSQL, 1 with PGlite)')
  .action(async (opts: { config?: string; workers?: string }) => {
    const config = loadConfig({ file: opts.config })
    await runServerCommand(config, createLogger(config.logLevel), { workers: opts.workers === undefined ? undefined : parseWorkersFlag(opts.workers) })
  })

program
  .command('migrate')
  .description('bring the database schema up to date and exit')
  .addOption(configOption)
  .action(async (opts: { config?: string }) => {
    await runMigrateCommand(loadConfig({ file: opts.config }))
  })

registerUserCommands(program, configOption)

program
  .command('agent')
  .description('run the device agent: register once, hold the tunnel to the gateway, run the assigned stacks')
  .option('-c, --config <file>', 'agent.yaml (EDGETAINER_AGENT_* environment variables override it)')
  .action(async (opts: { config?: string }) => {
    // Loaded only here: the agent needs none of the gateway's modules, the gateway none of the agent's.
    const { runAgentCommand, agentExpectedErrors } = await import('./agent-command.js')
    await runAgentCommand({ config: opts.config, version: packageVersion() }).catch((err: unknown) => {
      if (agentExpectedErrors.some((type) => err instanceof type)) {
        process.stderr.write(`edgetainer agent: ${(err as Error).message}\n`)
        process.exit(1)
      }
      throw err
    })
  })

registerIgnitionCommand(program, configOption)
registerVerifyIgnitionCommand(program)

// The remote CLI (docs/cli.md); bin/edgetainer runs those through cli/remote-cli.ts, without the modules above.
registerRemoteCommands(program)
registerCompletionCommand(program)

program.parseAsync(process.argv).catch(fail)
