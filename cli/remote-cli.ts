import { Command } from 'commander'
import { packageVersion } from '../server/version.js'
import { oneLineUsageErrors } from './remote/command-runner.js'
import { registerRemoteCommands } from './remote/remote-commands.js'

/**
 * The remote commands alone (login, devices, logs, env, deploy, tokens, ssh,
 * tunnel): bin/edgetainer starts here for them, so they load none of the
 * gateway's modules. `edgetainer --help` (cli/edgetainer.ts) lists them too.
 */
const program = oneLineUsageErrors(new Command('edgetainer').description('Fleet gateway for edge devices behind NAT').version(packageVersion()))
// Program options (--version) only before the command: `deploy --version 2` is deploy's own option.
program.enablePositionalOptions()
registerRemoteCommands(program)
await program.parseAsync(process.argv)
