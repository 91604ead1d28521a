/**
 * Prometheus metrics for work queues, labelled by queue name. Metric objects
 * are shared per registry so several queues (or several providers over the
 * same registry) never try to register the same name twice.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What a queue reports; one instance per queue name. */
export interface QueueMetrics {
  /** A key entered the queue (or was marked dirty while processing). */
  add(): void;
  /** A worker took a key that had waited `queuedForSeconds`. */
  get(queuedForSeconds: number): void;
  /** A worker finished a key it had held for `workSeconds`. */
  done(workSeconds: number): void;
  /** A key was scheduled for a rate-limited retry. */
  retry(): void;
  /** The number of keys waiting to be handed out. */
  depth(n: number): void;
}

// 1 ms, 4 ms, 16 ms, ... 65.5 s: covers a cache hit up to a slow remote call.
const DURATION_BUCKETS = [0.001, 0.004, 0.016, 0.064, 0.256, 1.024, 4.096, 16.384, 65.536];

type Label = 'name';

// Histogram.zero() overwrites an existing series, so remember which names
// were already initialised on each (possibly shared) histogram.
const zeroedNames = new WeakMap<Histogram<Label>, Set<string>>();

function reuseOr<T extends object>(
  registry: Registry,
  name: string,
  kind: abstract new (...args: never[]) => T,
  create: () => T,
): T {
  const existing = registry.getSingleMetric(name);
  if (existing === undefined) return create();
  if (!(existing instanceof kind)) {
    throw new TypeError(`metric ${name} is already registered with a different type`);
  }
  return existing;
}

export class WorkQueueMetricsProvider {
  private readonly depthGauge: Gauge<Label>;
  private readonly adds: Counter<Label>;
  private readonly retries: Counter<Label>;
  private readonly queueDuration: Histogram<Label>;
  private readonly workDuration: Histogram<Label>;

  constructor(registry: Registry) {
    const registers = [registry];
    const labelNames = ['name'] as const;
    this.depthGauge = reuseOr(registry, 'workqueue_depth', Gauge, () =>
      new Gauge({ name: 'workqueue_depth', help: 'Current number of keys waiting in the work queue.', labelNames, registers }),
    );
    this.adds = reuseOr(registry, 'workqueue_adds_total', Counter, () =>
      new Counter({ name: 'workqueue_adds_total', help: 'Total number of keys added to the work queue.', labelNames, registers }),
    );
    this.retries = reuseOr(registry, 'workqueue_retries_total', Counter, () =>
      new Counter({ name: 'workqueue_retries_total', help: 'Total number of rate-limited retries scheduled by the work queue.', labelNames, registers }),
    );
    this.queueDuration = reuseOr(registry, 'workqueue_queue_duration_seconds', Histogram, () =>
      new Histogram({
        name: 'workqueue_queue_duration_seconds',
        help: 'Seconds a key waited in the work queue before a worker took it.',
        labelNames,
        buckets: DURATION_BUCKETS,
        registers,
      }),
    );
    this.workDuration = reuseOr(registry, 'workqueue_work_duration_seconds', Histogram, () =>
      new Histogram({
        name: 'workqueue_work_duration_seconds',
        help: 'Seconds a worker spent on a key between taking it and marking it done.',
        labelNames,
        buckets: DURATION_BUCKETS,
        registers,
      }),
    );
  }

  forQueue(name: string): QueueMetrics {
    const depth = this.depthGauge.labels(name);
    const adds = this.adds.labels(name);
    const retries = this.retries.labels(name);
    const queued = this.queueDuration.labels(name);
    const work = this.workDuration.labels(name);

    // Publish every series at 0 now, so dashboards and alerts see the queue
    // before its first event rather than an absent series.
    depth.inc(0);
    adds.inc(0);
    retries.inc(0);
    this.zeroOnce(this.queueDuration, name);
    this.zeroOnce(this.workDuration, name);

    return {
      add: () => adds.inc(),
      get: (queuedForSeconds) => queued.observe(queuedForSeconds),
      done: (workSeconds) => work.observe(workSeconds),
      retry: () => retries.inc(),
      depth: (n) => depth.set(n),
    };
  }

  private zeroOnce(histogram: Histogram<Label>, name: string): void {
    let names = zeroedNames.get(histogram);
    if (names === undefined) {
      names = new Set();
      zeroedNames.set(histogram, names);
    }
    if (names.has(name)) return;
    names.add(name);
    histogram.zero({ name });
  }
}
