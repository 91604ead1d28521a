import { DEFAULT_WORKERS } from '../../src/controller/controller.js';

/** What each scenario hands back to the runner: table rows, target verdicts and raw data for the JSON file. */
export interface TargetVerdict {
  /** the target as stated, e.g. "join overhead p99 <= 100 ms" */
  target: string;
  /** what was measured, e.g. "p99 43.1 ms (200 joins)" */
  measured: string;
  /** undefined when the scenario did not measure it (e.g. 10,000 nodes in --quick) */
  met: boolean | undefined;
}

export interface ScenarioResult {
  name: string;
  title: string;
  /** label, value: one table row each */
  rows: Array<[string, string]>;
  targets: TargetVerdict[];
  /** everything measured, for --json */
  data: Record<string, unknown>;
  durationMs: number;
}

export interface BenchParams {
  quick: boolean;
  join: {
    /** IAM-only joins with the agent's wait logic in this process */
    iamInProcess: number;
    /** IAM-only joins with first-boot-agent processes */
    iamProcess: number;
    /** Chainfire learner joins (agent processes starting real etcd members) */
    chainfire: number;
    /** the seed's loop, everything answering at once */
    seed: number;
  };
  recovery: {
    outageMs: number;
    /** nodes joined through the controller and seed loops run during the outage */
    nodes: number;
    /** a second outage longer than the seed's 5 attempts cover; 0 to skip */
    longOutageMs: number;
  };
  failover: { leaseTtlSeconds: number; kill: number; term: number };
  scale: { sizes: number[]; resyncPeriodMs: number; timeoutMs: number; rawTxns: number; workers: number };
  /** `imports`: also time each dependency's import in a fresh process */
  agent: { samples: number; imports: boolean };
  /**
   * rounds of: a voter killed and replaced (membershipctl delete --now + a new node's agent; the rounds alternate
   * which of the two comes first), then that node reprovisioned (etcd killed, data and markers wiped, its agent run again); healthIntervalSeconds is written
   * to cluster/config when it is not the default (10)
   */
  day2: { rounds: number; healthIntervalSeconds: number };
  /** rounds of: two of three voters killed for good, recover on the survivor, the two brought back */
  quorum: { rounds: number };
}

export const QUICK: BenchParams = {
  quick: true,
  join: { iamInProcess: 20, iamProcess: 2, chainfire: 1, seed: 1 },
  recovery: { outageMs: 5_000, nodes: 1, longOutageMs: 0 },
  failover: { leaseTtlSeconds: 5, kill: 1, term: 1 },
  scale: { sizes: [150], resyncPeriodMs: 5_000, timeoutMs: 45_000, rawTxns: 500, workers: DEFAULT_WORKERS },
  agent: { samples: 2, imports: false },
  day2: { rounds: 1, healthIntervalSeconds: 10 },
  quorum: { rounds: 1 },
};

export const FULL: BenchParams = {
  quick: false,
  join: { iamInProcess: 200, iamProcess: 20, chainfire: 10, seed: 3 },
  recovery: { outageMs: 20_000, nodes: 3, longOutageMs: 45_000 },
  failover: { leaseTtlSeconds: 5, kill: 5, term: 5 },
  scale: { sizes: [1_000, 10_000], resyncPeriodMs: 30_000, timeoutMs: 15 * 60_000, rawTxns: 5_000, workers: DEFAULT_WORKERS },
  agent: { samples: 10, imports: true },
  day2: { rounds: 4, healthIntervalSeconds: 10 },
  quorum: { rounds: 3 },
};
