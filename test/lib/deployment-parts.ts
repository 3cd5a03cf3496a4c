import { createDeploymentStatus } from '../../server/deployments/deployment-status.js'
import { createDeploymentStore } from '../../server/deployments/deployment-store.js'
import { createDeviceResolver } from '../../server/deployments/device-resolver.js'
import { createEnvCodec } from '../../server/env/env-codec.js'
import { createEnvStore } from '../../server/env/env-store.js'
import { createRestartQueue } from '../../server/env/restart-queue.js'
import { createSecretBox } from '../../server/secrets/secret-box.js'
import { loadMasterKey } from '../../server/secrets/master-key.js'
import { createSoftwareStore } from '../../server/software/software-store.js'
import type { TestGateway } from './test-gateway.js'

/**
 * The parts the agent API (a later issue) will use, built the way main.ts
 * builds them, on a running test gateway's database and master key.
 */
export function deploymentParts(gw: TestGateway) {
  const db = gw.server.database.db
  const codec = createEnvCodec(createSecretBox(loadMasterKey({ dataDir: gw.dataDir }).derive('env-secrets')))
  const envStore = createEnvStore({ db, codec })
  const software = createSoftwareStore({ db, codec })
  const deployments = createDeploymentStore({ db, software })
  return {
    resolver: createDeviceResolver({ db, codec, envStore, software, deployments }),
    status: createDeploymentStatus({ db }),
    restarts: createRestartQueue({ db }),
  }
}
