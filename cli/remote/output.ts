import { printable } from './cli-error.js'

/** Where a command writes: stdout for results, stderr for notices. One object, so tests and commands agree. */
export interface Io {
  out(text: string): void
  err(text: string): void
}

export const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2) + '\n')
}

/** A plain text table with a header row, columns padded to their widest cell; cells are made printable. */
export function printTable(io: Io, header: string[], rows: (string | number | null | undefined)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : printable(String(c)))))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  for (const row of cells) io.out(row.map((c, i) => (i === row.length - 1 ? c : (c ?? '').padEnd(widths[i]!))).join('  ') + '\n')
}

/** `key: value` lines for one object. */
export function printFields(io: Io, fields: [string, unknown][]): void {
  const width = Math.max(...fields.map(([k]) => k.length))
  for (const [k, v] of fields) io.out(`${`${k}:`.padEnd(width + 1)} ${v === null || v === undefined || v === '' ? '-' : printable(String(v))}\n`)
}
