/**
 * One scenario's world: a real 3-member etcd on 127.0.0.1 (the test harness)
 * playing Chainfire, the FlareDB and IAM simulators, the controller's config
 * file, and helpers to write records and watch statuses. Each scenario gets
 * its own, so no scenario sees another's records or membership changes.
 */
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3, type Watcher } from 'etcd3';
import { clusterConfigToMembership, parseClusterConfig } from '../../src/schema/cluster-config.js';
import type { NodeMembershipInput } from '../../src/schema/node-membership.js';
import type { NodeMembershipStatus } from '../../src/schema/status.js';
import { KeyLayout } from '../../src/store/keys.js';
import { EtcdCluster } from '../support/etcd-cluster.js';
import { tempDir, writeJson } from '../support/fixtures.js';
import { FlareDBSimulator } from '../support/flaredb-simulator.js';
import { IAMSimulator } from '../support/iam-simulator.js';
import { ControllerProcess } from './controller-process.js';

export interface EnvOptions {
  /** used in temp dir names and identities */
  name: string;
  iam?: boolean;
  flaredb?: boolean;
}

export interface WorkerServices {
  iam?: boolean;
  /** the node's FlareDB Raft address and its local admin API (health) */
  flaredb?: { raftAddr: string; apiUrl: string };
  /** the node's Chainfire client URL and Raft address */
  chainfire?: { clientUrl: string; raftAddr: string };
}

export class BenchEnv {
  readonly keys = new KeyLayout();
  readonly controllers: ControllerProcess[] = [];
  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly cluster: EtcdCluster,
    readonly client: Etcd3,
    readonly controllerConfig: string,
    readonly iam: IAMSimulator | undefined,
    readonly flaredb: FlareDBSimulator | undefined,
  ) {}

  static async start(opts: EnvOptions): Promise<BenchEnv> {
    const dir = await tempDir(`bench-${opts.name}-`);
    const cluster = await EtcdCluster.start({ size: 3 });
    const client = new Etcd3({ hosts: cluster.endpoints });
    const iam = opts.iam ? await IAMSimulator.start() : undefined;
    const flaredb = opts.flaredb
      ? await FlareDBSimulator.start({
          replicas: 3,
          members: cluster.members.map((m, i) => ({ id: m.name, raft_addr: `127.0.0.1:${24800 + i}` })),
        })
      : undefined;
    const config: Record<string, unknown> = {};
    if (flaredb) config.flaredb = { endpoints: flaredb.urls };
    if (iam) {
      const secret = join(dir, 'iam-admin.json');
      await writeFile(secret, JSON.stringify({ user: 'admin', password: `bench-${process.pid}-${Date.now()}` }));
      await chmod(secret, 0o600);
      config.iam = { endpoints: iam.urls, adminSecretFile: secret };
    }
    const controllerConfig = await writeJson(dir, 'controller.json', config);
    return new BenchEnv(opts.name, dir, cluster, client, controllerConfig, iam, flaredb);
  }

  get endpoints(): string[] {
    return this.cluster.endpoints;
  }

  async startController(identity: string, opts: { leaseTtlSeconds: number; resyncPeriod: string; workers?: number }): Promise<ControllerProcess> {
    const c = await ControllerProcess.start({
      endpoints: this.endpoints,
      prefix: this.keys.prefix,
      identity,
      logFile: join(this.dir, `controller-${identity}.log`),
      stateDir: join(this.dir, `controller-${identity}`),
      configPath: this.controllerConfig,
      ...opts,
    });
    this.controllers.push(c);
    return c;
  }

  /** The seed's cluster-config.json of a joining worker running only the given services. */
  workerConfig(name: string, services: WorkerServices): Record<string, unknown> {
    const peers = this.cluster.members.map((m) => new URL(m.peerUrl).host);
    return {
      node_id: name,
      node_role: 'worker',
      bootstrap: false,
      cluster_name: 'bench',
      leader_url: this.endpoints[0],
      raft_addr: services.chainfire?.raftAddr ?? '127.0.0.1:2380',
      initial_peers: peers,
      flaredb_peers: [],
      node_ip: '127.0.0.1',
      services: {
        chainfire: services.chainfire ? { client_url: services.chainfire.clientUrl } : { enabled: false },
        flaredb: services.flaredb ? { raft_addr: services.flaredb.raftAddr, api_url: services.flaredb.apiUrl } : { enabled: false },
        iam: services.iam ? { enabled: true, api_url: this.iam?.urls[0] } : { enabled: false },
      },
    };
  }

  /** The NodeMembership the config describes, exactly as `membershipctl apply --from-cluster-config` builds it. */
  recordOf(config: Record<string, unknown>): NodeMembershipInput {
    return clusterConfigToMembership(parseClusterConfig(JSON.stringify(config), 'bench').config);
  }

  async writeConfig(name: string, config: Record<string, unknown>): Promise<string> {
    return writeJson(this.dir, `${name}-cluster-config.json`, config);
  }

  async putDesired(record: NodeMembershipInput): Promise<void> {
    await this.client.put(this.keys.desired(record.metadata.name)).value(JSON.stringify(record));
  }

  /** Writes records in transactions of `batch` puts (etcd allows 128 operations per transaction). */
  async putDesiredMany(records: NodeMembershipInput[], batch = 100): Promise<void> {
    for (let i = 0; i < records.length; i += batch) {
      const success = records.slice(i, i + batch).map((r) => ({
        request_put: { key: Buffer.from(this.keys.desired(r.metadata.name)), value: Buffer.from(JSON.stringify(r)) },
      }));
      await this.client.kv.txn({ success });
    }
  }

  async deleteRecords(node: string): Promise<void> {
    await this.client.delete().key(this.keys.desired(node));
    await this.client.delete().key(this.keys.status(node));
  }

  /** etcd's current revision: every write (put, delete, transaction with writes) adds one. */
  async revision(): Promise<number> {
    const res = await this.client.get(`${this.keys.prefix}/bench/revision-probe`).exec();
    return Number(res.header.revision);
  }

  /** Calls `onPut` for every status write, with the time it arrived (performance.now()). */
  async watchStatuses(onPut: (node: string, status: NodeMembershipStatus, at: number, valueBytes: number) => void): Promise<Watcher> {
    const dir = this.keys.dir('status');
    const watcher = await this.client.watch().prefix(dir).create();
    watcher.on('put', (kv) => {
      const at = performance.now();
      onPut(kv.key.toString().slice(dir.length), JSON.parse(kv.value.toString()) as NodeMembershipStatus, at, kv.value.length);
    });
    return watcher;
  }

  async stop(): Promise<void> {
    await Promise.all(this.controllers.map((c) => c.stop().catch(() => undefined)));
    this.client.close();
    await this.iam?.stop();
    await this.flaredb?.stop();
    await this.cluster.stop();
    if (!process.env.KEEP_TEST_DIRS) await rm(this.dir, { recursive: true, force: true });
  }
}

/** Waits until `check` returns a value; polls every `everyMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
