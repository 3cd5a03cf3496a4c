import t from 'tap'
import { seedFleetAndDevices, startConsoleSuite } from '../lib/console-browser.js'

t.test("software, deployments and the environment hierarchy in a real browser", async (t) => {
  const suite = await startConsoleSuite(t)
  if (!suite) return
  const { gw, base, admin, page, shot, pageProblems } = suite
  const { pumpId } = await seedFleetAndDevices(gw)

  await t.test('software: a compose error on its field, versions with a diff, deploy to a fleet', async (t) => {
    await page.click('[data-nav=Software]')
    await page.click('.page-actions >> text=New software')
    await page.fill('#f-name', 'telemetry')
    await page.fill('#f-docker_compose_yaml', 'services:\n  web:\n    ports: ["8080:80"]\n')
    await page.click('.modal button[type=submit]')
    const error = page.locator('.field[data-field=docker_compose_yaml] .field-error')
    await error.waitFor()
    t.match(await error.innerText(), /services\.web\.image: is required.*line 2/, 'the compose error names the field and line')
    await page.fill('#f-docker_compose_yaml', 'services:\n  web:\n    image: nginx:1.27\n')
    await page.click('.modal button[type=submit]')
    await page.waitForSelector('h1:has-text("telemetry")')

    await page.click('.card-header button:has-text("Edit")')
    await page.fill('textarea[aria-label="Compose YAML"]', 'services:\n  web:\n    image: nginx:1.28\n  agent:\n    image: busybox:1\n')
    await page.click('text=Save as new version')
    await page.waitForSelector('pre.code >> text=nginx:1.28')
    await page.click('.tabs >> text=Versions')
    const diff = page.locator('[data-testid=diff]')
    await diff.waitFor()
    t.match(await diff.innerText(), /-\s+image: nginx:1\.27[\s\S]*\+\s+image: nginx:1\.28/, 'the diff between the two versions')
    await shot('software-versions')

    await page.click('.tabs >> text=Deployments')
    await page.selectOption('#f-target', { label: 'north-plant' })
    await page.click('button[type=submit]:has-text("Deploy")')
    const deployed = page.locator('[data-testid=deployments-table] [data-deployed=pump-7]')
    await deployed.waitFor()
    // pump-7 has no tunnel here: the honest view says so instead of "pending".
    t.match(await deployed.innerText(), /Pump 7[\s\S]*offline/, "the fleet's device is listed, shown offline while it has no tunnel")
    await shot('software-deploy')
  })

  await t.test('environment: fleet variables with a masked secret, a device override, the inherited view', async (t) => {
    await page.click('[data-nav=Fleets]')
    await page.click('[data-testid=fleets-table] >> text=north-plant')
    await page.click('.tabs >> text=Environment')
    await page.click('text=Add container variables')
    await page.fill('#f-container', 'web')
    await page.locator('[aria-label="Variable name"]').nth(0).fill('REGION')
    await page.locator('[aria-label=Value]').nth(0).fill('eu')
    await page.click('text=Add variable')
    await page.locator('[aria-label="Variable name"]').nth(1).fill('DB_PASS')
    await page.locator('[aria-label=Value]').nth(1).fill('s3cret-value')
    await page.locator('[aria-label=Secret]').nth(1).check()
    await page.click('text=Save variables')
    await page.waitForSelector('.container-block >> text=REGION')
    const block = await page.locator('.container-block').innerText()
    t.match(block, /DB_PASS\s+\*{8}\s+secret/, 'the secret is masked')
    t.notMatch(await page.content(), /s3cret-value/, 'its value is nowhere on the page')

    await page.goto(`${base}/devices/${pumpId}/env`)
    await page.waitForSelector('tr.from-fleet >> text=REGION')
    await page.locator('.card:has-text("Device variables") >> text=Add container variables').click()
    await page.fill('#f-container', 'web')
    await page.locator('[aria-label="Variable name"]').nth(0).fill('REGION')
    await page.locator('[aria-label=Value]').nth(0).fill('eu-west')
    await page.click('text=Save variables')
    const region = page.locator('tr.from-device:has-text("REGION")')
    await region.waitFor()
    t.match(await region.innerText(), /REGION\s+eu-west\s+device\s+fleet/i, 'the device value wins and shows what it overrides')
    t.match(await page.locator('tr:has-text("DB_PASS")').first().innerText(), /\*{8}\s+fleet/i, 'the inherited secret stays masked')
    await shot('device-env')
  })

  t.same(pageProblems, [], 'no script errors or CSP refusals in the admin session')
})
