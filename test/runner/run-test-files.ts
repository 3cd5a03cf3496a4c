/**
 * Runs compiled tap test files as plain `node` processes, a few at a time, and
 * reports them the way tap's runner does: each file's TAP as an indented
 * subtest, then `# { total, pass, fail }`.
 *
 * Why not tap's own runner: it starts every test file with @tapjs/processinfo,
 * which sends each loaded module through an off-thread loader hook and, through
 * process-on-spawn, puts itself into every child process (each CLI run, each
 * spawned gateway). Measured on this suite, that doubled the CPU of files that
 * spawn processes and added a third to the rest, and the suite is CPU-bound on
 * two cores. Coverage, the only thing it is for, is off here. The test files
 * are unchanged: they still use tap's API, and `npx tap <file>` still runs them.
 *
 *   node dist/test/runner/run-test-files.js [--jobs N] [--timeout SECONDS] [--grace SECONDS] FILE...
 *
 * --timeout is each file's own tap timeout; --grace is how long after it the runner kills a file
 * that is still running (SIGTERM, then SIGKILL after as long again).
 */
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { Parser } from 'tap-parser'
import { TEST_NODE_FLAGS } from './test-node-flags.js'

interface FileOutcome {
  file: string
  output: string
  pass: number
  fail: number
  skip: number
  todo: number
  /** Why the file failed beyond its own test points: an exit code, a signal, a timeout, a broken plan. */
  problem?: string
  ms: number
  /** CPU time of the file's process and every process it waited for (gateways, agents, CLI runs), or undefined off Linux. */
  cpuMs?: number
}

/**
 * CPU time of this runner's children that have been reaped so far (user + system, /proc/self/stat's cutime and
 * cstime), in ms. The kernel adds a child's time when it is reaped, so the increase across one child's exit is
 * that file's CPU: the suite is CPU-bound, and this says which files cost it.
 */
/** The reading at the last reap; each file's CPU is the increase since it. */
const reapedCpu: { last: number | undefined } = { last: reapedChildrenCpuMs() }

function reapedChildrenCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    // Fields after the command name (which may hold spaces) start at the state, field 3; cutime and cstime are 16 and 17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100
  } catch {
    return undefined
  }
}

interface RunOptions {
  jobs: number
  timeoutSeconds: number
  graceSeconds: number
  /** A file to write every file's CPU and wall time to, a tab-separated line each, costliest first. */
  cpuReport?: string
}

function parseArgs(argv: string[]): RunOptions & { files: string[] } {
  const options: RunOptions = { jobs: 3, timeoutSeconds: 240, graceSeconds: 15 }
  const files: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--jobs') options.jobs = Number(argv[++i])
    else if (arg === '--timeout') options.timeoutSeconds = Number(argv[++i])
    else if (arg === '--grace') options.graceSeconds = Number(argv[++i])
    else if (arg === '--cpu-report') options.cpuReport = argv[++i]
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`)
    else files.push(arg)
  }
  if (!Number.isInteger(options.jobs) || options.jobs < 1) throw new Error('--jobs needs a whole number of at least 1')
  if (!(options.timeoutSeconds > 0)) throw new Error('--timeout needs a number of seconds above 0')
  if (!(options.graceSeconds > 0)) throw new Error('--grace needs a number of seconds above 0')
  if (options.cpuReport === undefined && argv.includes('--cpu-report')) throw new Error('--cpu-report needs a file name')
  if (!files.length) throw new Error('no test files given')
  return { ...options, files }
}

/** One test file in its own process; its stderr goes straight through, as under tap. */
function runFile(file: string, index: number, jobId: number, { timeoutSeconds, graceSeconds }: RunOptions): Promise<FileOutcome> {
  const started = Date.now()
  const outcome: FileOutcome = { file, output: '', pass: 0, fail: 0, skip: 0, todo: 0, ms: 0 }
  const parser = new Parser()
  parser.on('pass', () => outcome.pass++)
  parser.on('fail', () => outcome.fail++)
  parser.on('skip', () => outcome.skip++)
  parser.on('todo', () => outcome.todo++)
  const results = new Promise<{ ok: boolean; plan: { start: number | null; end: number | null } }>((resolve) => parser.on('complete', resolve))
  // What tap's runner tells a test file: TAP_TIMEOUT sets the file's own timeout, which prints which
  // test was still running; TAP_CHILD_ID keeps the per-file count out of the output, as under tap.
  const env = { ...process.env, TAP: '1', TAP_CHILD_ID: String(index), TAP_JOB_ID: String(jobId), TAP_TIMEOUT: String(timeoutSeconds) }
  // The runner's own node flags go on (its tests run it through tsx on TypeScript fixtures).
  const child = spawn(process.execPath, [...process.execArgv, ...TEST_NODE_FLAGS, file], { stdio: ['ignore', 'pipe', 'inherit'], env })
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    outcome.output += chunk
    parser.write(chunk)
  })
  // A backstop for a file whose own timeout cannot fire (a blocked event loop), a little after it.
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGTERM')
    // A process that ignores SIGTERM (a hung teardown) must not hold the run.
    setTimeout(() => child.kill('SIGKILL'), graceSeconds * 1000).unref()
  }, (timeoutSeconds + graceSeconds) * 1000)
  // 'exit' fires as libuv reaps the process. Two files that end in the same instant can be reaped
  // together, and the first to report then carries both: rare, and only a report.
  child.on('exit', () => {
    const now = reapedChildrenCpuMs()
    if (now !== undefined && reapedCpu.last !== undefined) outcome.cpuMs = now - reapedCpu.last
    reapedCpu.last = now
  })
  return new Promise((resolve) => {
    child.on('close', async (code, signal) => {
      clearTimeout(timer)
      parser.end()
      const final = await results
      outcome.ms = Date.now() - started
      if (timedOut) outcome.problem = `killed: still running ${timeoutSeconds + graceSeconds} s after it started`
      else if (signal) outcome.problem = `ended by ${signal}`
      else if (code !== 0) outcome.problem = `exited with code ${code}`
      else if (!final.ok) outcome.problem = final.plan.end === null ? 'ended without a plan' : 'its TAP is not ok'
      resolve(outcome)
    })
  })
}

function indent(text: string): string {
  return text.replace(/\n$/, '').split('\n').map((line) => (line ? `    ${line}` : line)).join('\n')
}

/** Prints a finished file as tap does: the subtest header, its TAP indented, then one test point. */
function report(outcome: FileOutcome, index: number): void {
  const ok = !outcome.problem && outcome.fail === 0
  const lines = [`# Subtest: ${outcome.file}`, indent(outcome.output), `${ok ? 'ok' : 'not ok'} ${index} - ${outcome.file} # time=${outcome.ms}ms`]
  if (outcome.problem) lines.push('  ---', `  problem: ${outcome.problem}`, '  ...')
  process.stdout.write(`${lines.join('\n')}\n\n`)
}

/** The files that cost the most CPU, and the run's total: where to look when the suite grows slow. */
function printCpuByFile(outcomes: FileOutcome[], reportFile: string | undefined): void {
  const measured = outcomes.filter((o) => o.cpuMs !== undefined).sort((a, b) => b.cpuMs! - a.cpuMs!)
  if (!measured.length) return
  const seconds = (ms: number) => (ms / 1000).toFixed(1)
  const total = measured.reduce((sum, o) => sum + o.cpuMs!, 0)
  const lines = [`# CPU of the test files and what they started: ${seconds(total)} s in all; the most costly:`]
  for (const o of measured.slice(0, 20)) lines.push(`#   ${seconds(o.cpuMs!).padStart(6)} s CPU  ${seconds(o.ms).padStart(6)} s wall  ${o.file}`)
  if (reportFile) {
    writeFileSync(reportFile, ['cpu_s\twall_s\tfile', ...measured.map((o) => `${seconds(o.cpuMs!)}\t${seconds(o.ms)}\t${o.file}`)].join('\n') + '\n')
    lines.push(`# every file's figures: ${reportFile}`)
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseArgs>
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`run-test-files: ${(err as Error).message}\n`)
    return 2
  }
  const { jobs, files } = options
  const started = Date.now()
  const queue = [...files]
  const totals = { pass: 0, fail: 0, skip: 0, todo: 0 }
  const outcomes: FileOutcome[] = []
  let reported = 0
  let startedFiles = 0
  process.stdout.write(`TAP version 14\n1..${files.length}\n`)
  async function worker(jobId: number) {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const outcome = await runFile(file, ++startedFiles, jobId, options)
      report(outcome, ++reported)
      outcomes.push(outcome)
      totals.pass += outcome.pass
      totals.skip += outcome.skip
      totals.todo += outcome.todo
      // A file that died or hung counts as one failure even when every point it printed passed.
      totals.fail += outcome.fail || (outcome.problem ? 1 : 0)
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, (_, jobId) => worker(jobId)))
  printCpuByFile(outcomes, options.cpuReport)
  const extra = [totals.skip ? `, skip: ${totals.skip}` : '', totals.todo ? `, todo: ${totals.todo}` : ''].join('')
  const total = totals.pass + totals.fail + totals.skip + totals.todo
  process.stdout.write(`# { total: ${total}, pass: ${totals.pass}${totals.fail ? `, fail: ${totals.fail}` : ''}${extra} }\n# time=${Date.now() - started}ms\n`)
  return totals.fail ? 1 : 0
}

process.exitCode = await main()
