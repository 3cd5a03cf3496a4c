/**
 * Node flags for every test process, and for the gateways the tests start in processes of their own.
 *
 * --liftoff-only: V8 compiles WebAssembly (PGlite's PostgreSQL) with its baseline compiler only. Its
 * optimizing tier recompiles the hot functions in the background, and for a test's short-lived
 * database that costs more than it ever wins back: a PGlite start and 200 queries took 1.2 CPU-s
 * instead of 2.0 (measured on Node 20). It changes no behaviour, only how the same code is compiled.
 */
export const TEST_NODE_FLAGS = ['--enable-source-maps', '--liftoff-only']

