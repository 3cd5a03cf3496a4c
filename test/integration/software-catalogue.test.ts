import t from 'tap'
import { dialects } from '../lib/databases.js'
import { startTestGateway } from '../lib/test-gateway.js'

const composeV1 = `services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
  worker:
    image: busybox:1
`
const composeV2 = composeV1.replace('nginx:1.27', 'nginx:1.28')

for (const dialect of dialects) {
  t.test(`software catalogue on ${dialect}`, async (t) => {
    const gw = await startTestGateway(t, dialect)
    const { http } = gw
    const token = gw.adminToken

    async function upload(fields: Record<string, string>, file?: { text: string; name: string }, auth = token) {
      const form = new FormData()
      for (const [k, v] of Object.entries(fields)) form.append(k, v)
      if (file) form.append('file', new Blob([file.text], { type: 'application/yaml' }), file.name)
      const res = await fetch(`${http.baseUrl}/api/software/upload`, { method: 'POST', body: form, headers: { authorization: `Bearer ${auth}` } })
      return { status: res.status, body: (await res.json()) as any }
    }

    await t.test('compose errors are 400s naming the field or line', async (t) => {
      const noImage = await http.post('/api/software', { name: 'bad', docker_compose_yaml: 'services:\n  web:\n    ports: ["80:80"]\n' }, { token })
      t.equal(noImage.status, 400)
      t.equal(noImage.body.code, 'VALIDATION_FAILED')
      t.equal(noImage.body.field, 'services.web.image')
      t.match(noImage.body.error, /line 2/)
      const noServices = await http.post('/api/software', { name: 'bad', docker_compose_yaml: 'version: "3"\n' }, { token })
      t.equal(noServices.body.field, 'services')
      const broken = await http.post('/api/software', { name: 'bad', docker_compose_yaml: 'services:\n  web:\n    image: [unclosed\n' }, { token })
      t.equal(broken.status, 400)
      t.equal(broken.body.field, 'docker_compose_yaml')
      t.match(broken.body.error, /not valid YAML at line \d+, column \d+/)
      const missing = await http.post('/api/software', { name: 'bad' }, { token })
      t.equal(missing.body.field, 'docker_compose_yaml', 'manual software needs a compose file')
      const gitNoUrl = await http.post('/api/software', { name: 'bad', source: 'git' }, { token })
      t.equal(gitNoUrl.body.field, 'repo_url')
      const uploaded = await upload({ name: 'bad-upload' }, { text: 'services:\n  db:\n    environment: {}\n', name: 'compose.yml' })
      t.equal(uploaded.status, 400)
      t.equal(uploaded.body.field, 'services.db.image', 'uploads are validated the same way')
      t.equal((await http.get('/api/software?q=bad', { token })).body.total, 0, 'nothing was stored')
    })

    await t.test('versions are immutable, numbered, and diffable', async (t) => {
      const created = await http.post(
        '/api/software',
        { name: 'shop', description: 'web shop', docker_compose_yaml: composeV1, env_vars: { vars: { LOG_LEVEL: 'info' }, services: { web: { vars: { PORT: '80' } } } } },
        { token },
      )
      t.equal(created.status, 201)
      t.equal(created.body.current_version, '1')
      t.same(created.body.services, ['web', 'worker'])
      t.same(created.body.env_vars.vars.LOG_LEVEL, { value: 'info', secret: false, description: null })
      t.same(created.body.env_vars.services.web.vars.PORT.value, '80')
      const id = created.body.id

      const same = await http.put(`/api/software/${id}`, { docker_compose_yaml: composeV1, description: 'still a shop' }, { token })
      t.equal(same.body.current_version, '1', 'an unchanged compose makes no version')
      t.equal(same.body.description, 'still a shop')
      const v2 = await http.put(`/api/software/${id}`, { docker_compose_yaml: composeV2 }, { token })
      t.equal(v2.body.current_version, '2')
      const v3 = await http.put(`/api/software/${id}/env-vars`, { vars: { LOG_LEVEL: 'debug' }, services: { web: { vars: { PORT: '80' } } } }, { token })
      t.equal(v3.status, 200)
      t.equal(v3.body.version, '3', 'a change of default env makes a version')
      const labelled = await http.put(`/api/software/${id}`, { docker_compose_yaml: composeV1, version: 'v1.0-rollback' }, { token })
      t.equal(labelled.body.current_version, 'v1.0-rollback')
      const dupLabel = await http.put(`/api/software/${id}`, { docker_compose_yaml: composeV2, version: '2' }, { token })
      t.equal(dupLabel.status, 409)
      t.equal(dupLabel.body.field, 'version')

      const versions = await http.get(`/api/software/${id}/versions`, { token })
      t.same(versions.body.items.map((v: { version: string }) => v.version), ['v1.0-rollback', '3', '2', '1'], 'newest first')
      t.same(versions.body.items.map((v: { current: boolean }) => v.current), [true, false, false, false])
      t.equal(versions.body.items[0].created_by, 'admin')
      const one = await http.get(`/api/software/${id}/versions/1`, { token })
      t.equal(one.body.docker_compose_yaml, composeV1, 'version 1 still holds its compose')
      t.equal(one.body.env_vars.vars.LOG_LEVEL.value, 'info', 'and its defaults')
      t.same((await http.get(`/api/software/${id}`, { token })).body.versions, ['1', '2', '3', 'v1.0-rollback'])

      const diff = await http.get(`/api/software/${id}/versions/1/diff/3`, { token })
      t.equal(diff.status, 200)
      t.equal(diff.body.from, '1')
      t.equal(diff.body.to, '3')
      t.match(diff.body.diff, /^--- a\/docker-compose\.yml\tversion 1\n\+\+\+ b\/docker-compose\.yml\tversion 3\n@@ /)
      t.match(diff.body.diff, /\n-    image: nginx:1\.27\n\+    image: nginx:1\.28\n/)
      t.match(diff.body.diff, /\n-LOG_LEVEL=info\n\+LOG_LEVEL=debug\n/, 'default env changes are in the diff')
      const none = await http.get(`/api/software/${id}/versions/2/diff/2`, { token })
      t.equal(none.body.diff, '', 'a version against itself has no hunks')
      const unknown = await http.get(`/api/software/${id}/versions/1/diff/99`, { token })
      t.equal(unknown.status, 404)
      t.equal(unknown.body.code, 'VERSION_NOT_FOUND')
    })

    await t.test('multipart upload creates software or a new version', async (t) => {
      const created = await upload({ name: 'uploaded', description: 'from a file' }, { text: composeV1, name: 'docker-compose.yml' })
      t.equal(created.status, 201)
      t.equal(created.body.name, 'uploaded')
      t.equal(created.body.current_version, '1')
      t.equal(created.body.docker_compose_yaml, composeV1)
      const next = await upload({ software_id: created.body.id, version: '1.1' }, { text: composeV2, name: 'docker-compose.yml' })
      t.equal(next.status, 201)
      t.equal(next.body.current_version, '1.1')
      t.equal(next.body.id, created.body.id)
      const noFile = await upload({ name: 'nofile' })
      t.equal(noFile.status, 400)
      t.equal(noFile.body.field, 'file')
      const noName = await upload({}, { text: composeV1, name: 'c.yml' })
      t.equal(noName.body.field, 'name')
      const tooBig = await upload({ name: 'big' }, { text: `services:\n  web:\n    image: x\n#${'x'.repeat(300 * 1024)}\n`, name: 'c.yml' })
      t.equal(tooBig.status, 413)
      const json = await http.post('/api/software/upload', { name: 'x' }, { token })
      t.equal(json.status, 415, 'a JSON body is not an upload')
    })

    await t.test('git source, listing, deletion and audit', async (t) => {
      const git = await http.post('/api/software', { name: 'from-git', source: 'git', repo_url: 'https://git.example.com/org/stack.git', git_ref: 'main' }, { token })
      t.equal(git.status, 201)
      t.equal(git.body.source, 'git')
      t.equal(git.body.git_ref, 'main')
      t.equal(git.body.current_version, null, 'recorded for a later import; nothing fetched')
      const badUrl = await http.post('/api/software', { name: 'x', source: 'git', repo_url: 'not a url' }, { token })
      t.equal(badUrl.body.field, 'repo_url')
      const dup = await http.post('/api/software', { name: 'from-git', docker_compose_yaml: composeV1 }, { token })
      t.equal(dup.status, 409)
      const list = await http.get('/api/software?limit=2', { token })
      t.equal(list.body.total, 3)
      t.equal(list.body.items.length, 2)
      t.notOk('docker_compose_yaml' in list.body.items[0], 'lists stay small')

      const shop = (await http.get('/api/software?q=shop', { token })).body.items[0]
      const fleet = (await http.post('/api/fleets', { name: 'stores' }, { token })).body
      t.equal((await http.post(`/api/software/${shop.id}/deploy`, { fleet_id: fleet.id }, { token })).status, 201)
      const refused = await http.delete(`/api/software/${shop.id}`, { token })
      t.equal(refused.status, 409, 'deployed software cannot be deleted')
      t.equal(refused.body.code, 'SOFTWARE_DEPLOYED')
      t.equal((await http.delete(`/api/software/${git.body.id}`, { token })).status, 204)
      t.equal((await http.get(`/api/software/${git.body.id}`, { token })).status, 404)

      const audit = await http.get(`/api/audit?target_type=software&target_id=${shop.id}`, { token })
      t.same(
        audit.body.items.map((r: { action: string }) => r.action),
        ['software.update', 'software.env.update', 'software.update', 'software.update', 'software.create'],
      )
      const envRow = audit.body.items.find((r: { action: string }) => r.action === 'software.env.update')
      t.same(envRow.details.env_changes, [{ name: 'LOG_LEVEL', change: 'changed', secret: false, value: 'debug' }])
      const deleted = await http.get(`/api/audit?action=software.delete&target_id=${git.body.id}`, { token })
      t.equal(deleted.body.total, 1)
    })

    await t.test('only admins change software', async (t) => {
      const viewer = await gw.tokenFor('viewer')
      const operator = await gw.tokenFor('operator')
      const shop = (await http.get('/api/software?q=shop', { token: viewer })).body.items[0]
      t.equal((await http.get(`/api/software/${shop.id}/versions`, { token: viewer })).status, 200, 'viewers read')
      for (const auth of [viewer, operator]) {
        t.equal((await http.post('/api/software', { name: 'x', docker_compose_yaml: composeV1 }, { token: auth })).status, 403)
        t.equal((await http.put(`/api/software/${shop.id}/env-vars`, { vars: {} }, { token: auth })).status, 403)
        t.equal((await upload({ name: 'x' }, { text: composeV1, name: 'c.yml' }, auth)).status, 403)
      }
    })
  })
}
