import t from 'tap'
import { runApiFuzzSuite } from '../lib/api-fuzz-suite.js'

// Every operation in /api/openapi.json, fuzzed against PostgreSQL (which refuses NUL in text, unlike a lax store).
t.test('every API route withstands fuzzing (PostgreSQL)', async (t) => {
  await runApiFuzzSuite(t, 'postgres', Number(process.env.EDGETAINER_FUZZ_RUNS ?? 12))
})
