import { spawn, type ChildProcess } from 'node:child_process'

/**
 * Stands in for systemd's `Restart=always` in the agent unit Ignition writes:
 * runs the executable at a fixed path and starts it again whenever it exits,
 * whatever the code, so a self-update (the agent swaps its file and exits)
 * comes back as the new executable.
 */
export function superviseAgent(argv: string[], options: { restartMs?: number; env?: NodeJS.ProcessEnv } = {}) {
  let child: ChildProcess | undefined
  let stopped = false
  let output = ''
  const exits: (number | null)[] = []
  const starts: number[] = []

  function start(): void {
    if (stopped) return
    starts.push(Date.now())
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env })
    child = c
    c.stdout!.on('data', (d) => (output = (output + d).slice(-200_000)))
    c.stderr!.on('data', (d) => (output = (output + d).slice(-200_000)))
    c.on('exit', (code) => {
      exits.push(code)
      if (!stopped) setTimeout(start, options.restartMs ?? 100)
    })
  }
  start()

  return {
    exits,
    starts,
    output: () => output,
    /** kill -9 of the running agent; the supervisor starts it again. */
    killHard(): void {
      child?.kill('SIGKILL')
    },
    async stop(): Promise<void> {
      stopped = true
      const c = child
      if (!c || c.exitCode !== null || c.signalCode !== null) return
      const gone = new Promise((resolve) => c.once('exit', resolve))
      c.kill('SIGKILL')
      await gone
    },
  }
}
