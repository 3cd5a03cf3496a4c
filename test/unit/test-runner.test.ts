import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// Compiled (make test) or from source through tsx (npx tap): the runner and its fixtures sit beside this file either way.
const here = path.dirname(fileURLToPath(import.meta.url))
const ext = path.extname(fileURLToPath(import.meta.url))
const runner = path.join(here, `../runner/run-test-files${ext}`)
const fixture = (name: string) => path.join(here, `../fixtures/runner/${name}${ext}`)

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...process.execArgv, runner, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    )
  })
}

t.test('every file passing: exit 0 and a summary with every point', async (t) => {
  const report = path.join(t.testdir(), 'cpu.tsv')
  const r = await run(['--jobs', '2', '--cpu-report', report, fixture('passes'), fixture('passes')])
  t.equal(r.code, 0)
  t.match(r.stdout, /^TAP version 14\n1\.\.2\n/)
  t.equal(r.stdout.match(/^ok \d - .*passes/gm)?.length, 2, 'one point per file')
  t.match(r.stdout, /\n {8}ok 1 - should be equal\n/, "a file's TAP is indented under its subtest, as under tap")
  t.match(r.stdout, /\n# \{ total: 6, pass: 6 \}\n# time=\d+ms\n$/, 'three passing points per file; no fail count when none failed')
  // A node process cannot start on no CPU. (These two identical files can end in the same instant, and then
  // the first reaped carries both: the runner says so, so only their sum is certain.)
  const cpu = [...r.stdout.matchAll(/^# +([\d.]+) s CPU +[\d.]+ s wall  .*passes/gm)].map((m) => Number(m[1]))
  t.equal(cpu.length, 2, 'both files are in the CPU table')
  t.ok(cpu[0]! + cpu[1]! > 0, `their CPU is above zero (${cpu.join(', ')} s)`)
  t.match(r.stdout, /^# CPU of the test files and what they started: [\d.]+ s in all; the most costly:$/m)
  const rows = readFileSync(report, 'utf8').trimEnd().split('\n')
  t.equal(rows[0], 'cpu_s\twall_s\tfile', 'the report names its columns')
  t.equal(rows.filter((row) => /^[\d.]+\t[\d.]+\t.*passes/.test(row)).length, 2, 'and has a row for each file')
  t.match(r.stdout, `# every file's figures: ${report}`)
})

t.test('a failed point, a bad exit code, a timeout and a blocked file each fail their file and the run', async (t) => {
  const [r, blocked] = await Promise.all([
    run(['--jobs', '4', '--timeout', '1', ...['passes', 'fails', 'exits', 'slow'].map(fixture)]),
    // Alone, with a short grace: the kill comes at timeout + grace whatever the machine's load.
    run(['--timeout', '1', '--grace', '2', fixture('blocks')]),
  ])
  t.equal(r.code, 1, 'the run exits 1')
  t.match(r.stdout, /^ok \d - .*passes/m)
  t.match(r.stdout, /\n {4}not ok 2 - arithmetic is off\n/, "the failed point is in the output, for CI's grep")
  t.match(r.stdout, /^not ok \d - .*fails.* # time=\d+ms$/m)
  t.match(r.stdout, /^not ok \d - .*exits.* # time=\d+ms\n {2}---\n {2}problem: exited with code 3\n/m, 'an exit code is named')
  t.match(r.stdout, /# Subtest: takes three seconds\n {8}not ok 1 - timeout!/, "the file's own tap timeout (TAP_TIMEOUT) names the test")
  t.match(r.stdout, /^not ok \d - .*slow.* # time=\d+ms$/m)
  const summary = /\n# \{ total: (\d+), pass: (\d+), fail: (\d+) \}\n/.exec(r.stdout)
  t.ok(summary, 'a summary line')
  // passes 3 + fails 1 + exits 1 pass; fails, exits and slow fail once each.
  t.equal(Number(summary?.[2]), 5, 'every passing point counts')
  t.equal(Number(summary?.[3]), 3, 'one failure each for fails, exits and slow')
  t.equal(Number(summary?.[1]), 8, 'total is pass + fail')

  t.equal(blocked.code, 1)
  t.match(blocked.stdout, /^not ok 1 - .*blocks.* # time=\d+ms\n {2}---\n {2}problem: killed: still running 3 s after it started\n/m, 'a file that cannot time out by itself is killed')
  t.match(blocked.stdout, /\n# \{ total: 1, pass: 0, fail: 1 \}\n/)
})

t.test('bad arguments are refused by name', async (t) => {
  const jobs = await run(['--jobs', 'zero', fixture('passes')])
  t.equal(jobs.code, 2)
  t.match(jobs.stderr, /^run-test-files: --jobs needs a whole number of at least 1\n$/)
  const none = await run([])
  t.equal(none.code, 2)
  t.match(none.stderr, /no test files given/)
  const unknown = await run(['--job', '2', fixture('passes')])
  t.match(unknown.stderr, /unknown option --job/)
  t.match((await run([fixture('passes'), '--cpu-report'])).stderr, /--cpu-report needs a file name/)
})
