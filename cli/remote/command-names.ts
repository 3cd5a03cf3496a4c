/**
 * The commands that talk to a gateway over its API (docs/cli.md). bin/edgetainer
 * reads this list and loads only cli/remote-cli.ts for them, without the
 * server's modules, so each starts fast. `completion` is not among them: it
 * describes every command, the server's too.
 */
export const REMOTE_COMMANDS: readonly string[] = ['login', 'logout', 'whoami', 'devices', 'device', 'logs', 'env', 'deploy', 'rollouts', 'tokens', 'ssh', 'tunnel']
