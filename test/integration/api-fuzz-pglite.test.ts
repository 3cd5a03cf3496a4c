import t from 'tap'
import { runApiFuzzSuite } from '../lib/api-fuzz-suite.js'

// The same suite on embedded PGlite, whose errors for bad input may differ from PostgreSQL's.
t.test('every API route withstands fuzzing (PGlite)', async (t) => {
  await runApiFuzzSuite(t, 'pglite', Number(process.env.EDGETAINER_FUZZ_RUNS ?? 8))
})
