import type { Command } from 'commander'
import { usageError } from './cli-error.js'
import { remote, remoteCommand } from './command-runner.js'
import { printJson } from './output.js'
import type { RemoteContext } from './remote-context.js'

interface Node {
  path: string
  words: string[]
}

/** Every command path (`/env/set`) with what may follow it: subcommands, aliases and long options. */
export function commandTree(root: Command): Node[] {
  const nodes: Node[] = []
  const walk = (cmd: Command, path: string) => {
    const subs = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
    const words = [...subs.flatMap((c) => [c.name(), ...c.aliases()]), ...cmd.options.flatMap((o) => (o.long ? [o.long] : [])), '--help']
    if (cmd === root) words.push('--version')
    nodes.push({ path, words: [...new Set(words)] })
    for (const sub of subs) for (const name of [sub.name(), ...sub.aliases()]) walk(sub, `${path}/${name}`)
  }
  walk(root, '')
  return nodes
}

/** Words are command and option names (letters, digits, dashes): nothing in them needs quoting. */
function bashFunction(root: Command): string {
  const nodes = commandTree(root)
  const name = root.name()
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`
  const known = nodes.filter((n) => n.path).map((n) => `"${n.path}"`).join('|')
  return `${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in -*) continue ;; esac
    case "$path/$word" in
      ${known}) path="$path/$word" ;;
    esac
  done
  local words=""
  case "$path" in
${nodes.map((n) => `    "${n.path}") words="${n.words.join(' ')}" ;;`).join('\n')}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F ${fn} ${name}
`
}

/** The completion script for a shell, generated from the command tree, so it never drifts from the commands. */
export function completionScript(root: Command, shell: string): string {
  const header = `# ${root.name()} ${shell} completion. Install: ${root.name()} completion ${shell} > <completions dir>, or eval "$(${root.name()} completion ${shell})"\n`
  if (shell === 'bash') return header + bashFunction(root)
  // zsh runs the bash function through its own bash compatibility layer.
  if (shell === 'zsh') return `${header}autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n${bashFunction(root)}`
  throw usageError('completion is offered for bash and zsh')
}

export function registerCompletionCommand(program: Command) {
  remoteCommand(program, 'completion <shell>', 'print a shell completion script (bash or zsh); --json prints the command tree instead').action(
    remote(async (ctx: RemoteContext, shell: string, opts: { json?: boolean }) => {
      const script = completionScript(program, shell)
      if (opts.json) printJson(ctx.io, commandTree(program))
      else ctx.io.out(script)
    }),
  )
}
