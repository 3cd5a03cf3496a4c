import t from 'tap'
import { randomBytes } from 'node:crypto'
import { composeServices, validateCompose } from '../../server/software/compose-validation.js'
import { diffVersions } from '../../server/software/software-diff.js'
import { createEnvCodec } from '../../server/env/env-codec.js'
import { ValidationError } from '../../server/errors.js'
import { createSecretBox } from '../../server/secrets/secret-box.js'
import type { SoftwareVersionRow } from '../../server/software/software-store.js'

function failure(text: string, field?: string): { field?: string; message: string } {
  try {
    validateCompose(text, field)
  } catch (err) {
    if (err instanceof ValidationError) return { field: err.field, message: err.message }
    throw err
  }
  return { message: 'accepted' }
}

t.test('a valid compose file gives its services in order', async (t) => {
  const text = 'services:\n  web:\n    image: nginx:1.27\n  db:\n    image: postgres:16\n    environment:\n      A: b\n'
  t.same(validateCompose(text), { services: ['web', 'db'] })
  t.same(composeServices(text), ['web', 'db'])
})

t.test('errors name the compose field and the line', async (t) => {
  t.match(failure('services:\n  web:\n    ports: ["80:80"]\n'), { field: 'services.web.image', message: /service web has no image \(line 2\)/ })
  t.match(failure('services:\n  web:\n    image: ""\n'), { field: 'services.web.image', message: /line 3/ })
  t.match(failure('services:\n  web:\n    image: [a, b]\n'), { field: 'services.web.image' })
  t.match(failure('name: x\n'), { field: 'services', message: /is required/ })
  t.match(failure('services: []\n'), { field: 'services', message: /mapping/ })
  t.match(failure('services: {}\n'), { field: 'services', message: /at least one/ })
  t.match(failure('services:\n  web:\n'), { field: 'services.web', message: /must be a mapping \(line 2\)/ })
  t.match(failure('services:\n  "bad name":\n    image: x\n'), { field: 'services.bad name' })
  t.match(failure('- just\n- a list\n'), { field: 'docker_compose_yaml', message: /mapping/ })
  t.match(failure('   \n'), { field: 'docker_compose_yaml', message: /empty/ })
})

t.test('YAML syntax errors give line and column, on the field that carried the file', async (t) => {
  t.match(failure('services:\n  web:\n    image: [unclosed\n'), { field: 'docker_compose_yaml', message: /not valid YAML at line \d+, column \d+/ })
  t.match(failure('services:\n  web:\n    image: a\n  web:\n    image: b\n', 'file'), { field: 'file', message: /line 4, column 3: Map keys must be unique/ })
  t.match(failure('a: b: c\n'), { message: /line 1, column \d+/ })
})

t.test('size is bounded', async (t) => {
  t.match(failure(`services:\n  web:\n    image: x\n#${'x'.repeat(300 * 1024)}\n`), { field: 'docker_compose_yaml', message: /at most/ })
})

t.test('the version diff is unified, masks secrets and marks changed ones', async (t) => {
  const codec = createEnvCodec(createSecretBox(randomBytes(32)))
  const version = (label: string, image: string, token: string): SoftwareVersionRow => ({
    id: label,
    software_id: 's',
    seq: Number(label),
    version: label,
    docker_compose_yaml: `services:\n  web:\n    image: ${image}\n`,
    env_vars: { vars: codec.seal({ TOKEN: { value: token, secret: true, description: null }, MODE: { value: image, secret: false, description: null } }, undefined, 'vars'), services: {} },
    created_by: 'admin',
    created_at: new Date(),
    commit_sha: null,
    commit_author: null,
    commit_message: null,
  })
  const diff = diffVersions(codec, version('1', 'nginx:1', 'old-token'), version('2', 'nginx:2', 'new-token'))
  t.match(diff, /^--- a\/docker-compose\.yml\tversion 1\n\+\+\+ b\/docker-compose\.yml\tversion 2\n@@ -1,3 \+1,3 @@\n/)
  t.match(diff, /\n-    image: nginx:1\n\+    image: nginx:2\n/)
  t.match(diff, /\n--- a\/env\tversion 1\n\+\+\+ b\/env\tversion 2\n/)
  t.match(diff, /\n-TOKEN=\*{8} # secret\n/)
  t.match(diff, /\n\+TOKEN=\*{8} \(secret changed\) # secret\n/, 'a changed secret is marked, not shown')
  t.notMatch(diff, /old-token|new-token/)
  const same = diffVersions(codec, version('1', 'nginx:1', 't'), version('2', 'nginx:1', 't'))
  t.equal(same, '', 'equal versions (secrets included) have no hunks')
})
