import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { errorStatus, isErrorCode } from '../../server/error-codes.js'
import { repoRoot } from '../lib/repo-root.js'

const root = repoRoot

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name)
    if (statSync(full).isDirectory()) return sources(full)
    return full.endsWith('.ts') ? [full] : []
  })
}

/** Upper-case literals that are not API error codes: system and library names the gateway reads or writes. */
function isOtherName(literal: string): boolean {
  if (/^(E[A-Z]+|ERR_[A-Z_]+|SIG[A-Z]+|TLS(_[A-Z0-9_]+)?|EAI_[A-Z]+)$/.test(literal)) return true
  return ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HTTP', 'HTTPS', 'SSH', 'HS256', 'NFKC', 'DENY', 'LIMIT_FILE_SIZE', 'OKP'].includes(literal)
}

// cli/remote/ is a client of the API: its upper-case literals are table headings (NAME, STATUS), not codes it writes.
const files = ['server', 'ignition', 'cli']
  .flatMap((dir) => sources(path.join(root, dir)))
  .filter((f) => !f.endsWith(path.join('server', 'error-codes.ts')) && !f.includes(`${path.sep}cli${path.sep}remote${path.sep}`))
const used = new Map<string, string>()
for (const file of files) {
  const text = readFileSync(file, 'utf8')
  for (const match of text.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)'/g)) {
    const literal = match[1]!
    if (!used.has(literal)) used.set(literal, `${path.relative(root, file)}:${text.slice(0, match.index).split('\n').length}`)
  }
}

t.test('every error code written in the gateway is in the table', async (t) => {
  const unknown = [...used].filter(([literal]) => !isErrorCode(literal) && !isOtherName(literal))
  t.same(unknown, [], 'codes outside server/error-codes.ts (add them to the table, with their status)')
  t.ok(used.size > 50, `the scan reads the sources (${used.size} literals in ${files.length} files)`)
})

t.test('every code in the table is used, and maps to one error status', async (t) => {
  const unused = Object.keys(errorStatus).filter((code) => !used.has(code))
  t.same(unused, [], 'no dead codes in the table')
  for (const [code, status] of Object.entries(errorStatus)) t.ok(status >= 400 && status <= 599, `${code} → ${status}`)
})

t.test('the check itself catches a code missing from the table', async (t) => {
  t.notOk(isErrorCode('FLEET_NOT_FOUNDD'), 'a misspelt code is not in the table')
  t.notOk(isOtherName('FLEET_NOT_FOUNDD'), 'and is not excused as a system name')
})
