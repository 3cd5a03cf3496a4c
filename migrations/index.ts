import type { Migration } from 'kysely'
import * as initial from './0001-initial.js'
import * as softwareEnv from './0002-software-env.js'
import * as certificates from './0003-certificates.js'
import * as agent from './0004-agent.js'
import * as retention from './0005-retention.js'
import * as hostBoundSessions from './0006-host-bound-sessions.js'
import * as gitSources from './0007-git-sources.js'
import * as userSshKeys from './0008-user-ssh-keys.js'
import * as logArrivalOrder from './0009-log-arrival-order.js'
import * as rollouts from './0010-rollouts.js'
import * as agentReleases from './0011-agent-releases.js'
import * as deployPhases from './0013-deploy-phases.js'
import * as clusterNodes from './0014-cluster-nodes.js'
import * as clusterOperations from './0016-cluster-operations.js'
import * as heartbeatDockerError from './0017-heartbeat-docker-error.js'

/**
 * Every migration, by name, in order. Listed statically rather than read from
 * the folder so the bundled single-file agent/server carries them too.
 */
export const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-software-env': softwareEnv,
  '0003-certificates': certificates,
  '0004-agent': agent,
  '0005-retention': retention,
  '0006-host-bound-sessions': hostBoundSessions,
  '0007-git-sources': gitSources,
  '0008-user-ssh-keys': userSshKeys,
  '0009-log-arrival-order': logArrivalOrder,
  '0010-rollouts': rollouts,
  '0011-agent-releases': agentReleases,
  '0013-deploy-phases': deployPhases,
  '0014-cluster-nodes': clusterNodes,
  '0016-cluster-operations': clusterOperations,
  '0017-heartbeat-docker-error': heartbeatDockerError,
}
