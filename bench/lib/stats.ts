/** Small numeric helpers for benchmark reports. */

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50)
}

export const MiB = 1024 * 1024
export const GiB = 1024 * MiB

export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return 'n/a'
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a) ? (a / b).toFixed(2) : 'n/a'
}

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${raw}`)
  return n
}

/** Parses sizes such as `1GiB`, `256MiB`, `1073741824`. */
export function envBytes(name: string, fallback: number): number {
  const raw = process.env[name]
  if (!raw) return fallback
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g)?(i?b)?$/i.exec(raw.trim())
  if (!m) throw new Error(`${name} must be a size such as 1GiB or 512MiB, got ${raw}`)
  const unit = { k: 1024, m: MiB, g: GiB }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1
  return Math.round(Number(m[1]) * unit)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

