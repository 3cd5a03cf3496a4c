import type { Command } from 'commander'
import { registerAuthCommands } from './auth-commands.js'
import { registerCompletionCommand } from './completion.js'
import { registerDeployCommand } from './deploy-command.js'
import { registerDeviceCommands } from './device-commands.js'
import { registerEnvCommands } from './env-commands.js'
import { registerLogsCommand } from './logs-command.js'
import { registerRolloutCommands } from './rollout-commands.js'
import { registerSshCommands } from './ssh-commands.js'
import { registerTokenCommands } from './token-commands.js'

export { REMOTE_COMMANDS } from './command-names.js'

/** Every command that talks to a gateway; cli/remote-cli.ts and cli/edgetainer.ts both register them. */
export function registerRemoteCommands(program: Command): void {
  registerAuthCommands(program)
  registerDeviceCommands(program)
  registerLogsCommand(program)
  registerEnvCommands(program)
  registerDeployCommand(program)
  registerRolloutCommands(program)
  registerTokenCommands(program)
  registerSshCommands(program)
}

/** Registered on the full program only (see REMOTE_COMMANDS). */
export { registerCompletionCommand }
