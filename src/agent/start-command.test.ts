import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { START_COMMAND_ENV, startCommandEnv } from './start-command.js';

describe("the start command's environment", () => {
  const agentEnv = {
    PATH: '/usr/bin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    CHAINFIRE_PASSWORD: 'agent-password',
    CHAINFIRE_ENDPOINTS: 'https://10.0.1.10:2379',
    ETCDCTL_PASSWORD: 'etcdctl-password',
    AWS_SECRET_ACCESS_KEY: 'aws',
    NODE_OPTIONS: '--require /tmp/x.js',
    INVOCATION_ID: 'abc',
  };

  it('keeps what a shell needs and the join variables, nothing else of the agent', () => {
    const env = startCommandEnv({ CHAINFIRE_NAME: 'node04', CHAINFIRE_INITIAL_CLUSTER: 'a=b', CHAINFIRE_INITIAL_CLUSTER_STATE: 'existing' }, agentEnv);
    assert.deepEqual(env, {
      PATH: '/usr/bin:/bin',
      HOME: '/root',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      TZ: 'UTC',
      CHAINFIRE_NAME: 'node04',
      CHAINFIRE_INITIAL_CLUSTER: 'a=b',
      CHAINFIRE_INITIAL_CLUSTER_STATE: 'existing',
    });
  });

  it('never passes on a password, whatever the allow list holds', () => {
    for (const name of START_COMMAND_ENV) assert.doesNotMatch(name, /PASSWORD|SECRET|TOKEN|KEY/);
  });
});
