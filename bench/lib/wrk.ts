import { run } from './processes.js'

/**
 * Requests per second and latency percentiles from Debian's `wrk`
 * (installed by scripts/run-bench.sh): keep-alive, fixed connections.
 */
export interface LoadResult {
  tool: string
  requests: number
  rps: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  errors: number
  non2xx: number
  raw?: string
}

function toMs(value: string, unit: string): number {
  const n = Number(value)
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n
}

export async function wrkAvailable(): Promise<boolean> {
  return (await run('sh', ['-c', 'command -v wrk'])).code === 0
}

export async function runWrk(options: { url: string; host: string; connections: number; threads: number; seconds: number }): Promise<LoadResult> {
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--latency',
    '--timeout', '10s',
    '-H', `Host: ${options.host}`,
    options.url,
  ]
  const res = await run('wrk', args, { timeoutMs: (options.seconds + 30) * 1000 })
  if (res.code !== 0) throw new Error(`wrk failed (${res.code}): ${res.stderr || res.stdout}`)
  const out = res.stdout
  const num = (re: RegExp) => {
    const m = re.exec(out)
    return m ? Number(m[1]) : 0
  }
  const pct = (p: number) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out)
    return m ? toMs(m[1]!, m[2]!) : NaN
  }
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    tool: 'wrk',
    requests: num(/(\d+) requests in/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: pct(50),
    p90Ms: pct(90),
    p99Ms: pct(99),
    errors: socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    raw: out,
  }
}
