// The Prometheus configuration, alerting rules and Grafana dashboard under deploy/:
// promtool accepts them, the rule unit tests pass, and every metric (and label)
// they query is one the controller exports under the contract's names, so a
// typo in a query fails here instead of silently showing "no data".
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { ControllerMetrics } from '../../src/metrics/controller-metrics.js';
import { WorkQueueMetricsProvider } from '../../src/metrics/workqueue-metrics.js';
import { tempDir } from '../support/fixtures.js';
import { binPath, runProcess } from '../support/processes.js';

const repoRoot = join(binPath('membershipctl'), '..', '..', '..', '..');
const promDir = join(repoRoot, 'deploy', 'prometheus');
const dashboardPath = join(repoRoot, 'deploy', 'grafana', 'membership-dashboard.json');
const contractPath = join(repoRoot, '..', 'shared', 'design', 'CONTRACT.md');
const promtool = process.env.PROMTOOL ?? 'promtool';

/** The contract's metrics and their labels ("Metrics" section of CONTRACT.md). */
const CONTRACT_METRICS: Record<string, string[]> = {
  membership_reconcile_total: ['controller', 'result'],
  membership_reconcile_duration_seconds: ['controller'],
  workqueue_depth: ['name'],
  workqueue_adds_total: ['name'],
  workqueue_retries_total: ['name'],
  workqueue_queue_duration_seconds: ['name'],
  workqueue_work_duration_seconds: ['name'],
  leader_election_master_status: ['name'],
  membership_nodes: ['phase'],
  membership_service_members: ['service', 'role'],
  membership_failure_tolerance: ['service'],
  membership_operations_in_progress: ['service'],
  membership_fenced_writes_rejected_total: [],
  membership_watch_restarts_total: ['resource'],
  membership_orphaned_members: ['service'],
  membership_build_info: ['version'],
};
/** Exported by the controller and used by alerts.yml and the dashboard, but not (yet) listed in the contract. */
const NOT_IN_CONTRACT: Record<string, string[]> = {
  membership_disruptions: ['state'],
  membership_chainfire_last_recovery_timestamp_seconds: [],
  membership_dead_members: [],
  membership_snapshots_total: ['result'],
  membership_last_snapshot_timestamp_seconds: [],
  membership_node_joining_since_timestamp_seconds: ['node'],
  membership_node_joining_overflow: [],
};
/** Labels Prometheus attaches to every scraped series (host: relabelled in prometheus.yml). */
const TARGET_LABELS = ['job', 'instance', 'host'];
/** Prometheus' own per-target series. */
const SYNTHETIC = new Set(['up']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/** Metric names and labels listed in CONTRACT.md, if the shared design folder is checked out next to this repo. */
async function contractMetrics(): Promise<Record<string, string[]> | undefined> {
  if (!existsSync(contractPath)) return undefined;
  const text = await readFile(contractPath, 'utf8');
  const section = /^## Metrics[^\n]*\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(text)?.[1];
  assert.ok(section, `${contractPath} has no "## Metrics" section`);
  const found: Record<string, string[]> = {};
  // The metrics are the section's first paragraph; what follows speaks of other things (exit codes).
  const list = section.trim().split(/\n\s*\n/)[0]!;
  for (const m of list.matchAll(/`([a-z_:][a-z0-9_:]*)(?:\{([^}]*)\})?`/g)) {
    // A name ending in "_" is a prefix the section speaks of (`membership_`), not a metric.
    if (m[1]!.endsWith('_')) continue;
    found[m[1]!] = (m[2] ?? '').split(',').map((l) => l.trim()).filter(Boolean);
  }
  return found;
}

interface Inventory {
  /** name -> labels the contract allows (for the contract's metrics and NOT_IN_CONTRACT) */
  labels: Map<string, Set<string>>;
  /** name -> label -> values the controller exports */
  values: Map<string, Map<string, Set<string>>>;
  /** standard process and Node.js metrics, as prom-client registers them */
  standard: Set<string>;
  histograms: Set<string>;
}

/** What the controller exports, from its own metric definitions, checked against the contract. */
async function inventory(): Promise<Inventory> {
  const contract = (await contractMetrics()) ?? CONTRACT_METRICS;
  for (const [name, labels] of Object.entries(CONTRACT_METRICS)) {
    assert.deepEqual(contract[name], labels, `CONTRACT.md lists ${name} with labels ${JSON.stringify(contract[name])}`);
  }
  const metrics = new ControllerMetrics(new Registry(), { defaultMetrics: false });
  new WorkQueueMetricsProvider(metrics.registry).forQueue('nodemembership');
  const standardRegistry = new Registry();
  collectDefaultMetrics({ register: standardRegistry });

  const inv: Inventory = { labels: new Map(), values: new Map(), standard: new Set(), histograms: new Set() };
  for (const [name, labels] of Object.entries({ ...NOT_IN_CONTRACT, ...contract })) inv.labels.set(name, new Set(labels));
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    // prom-client's typings declare a numeric enum; at run time the type is the text-format word.
    if (String(m.type) === 'histogram') inv.histograms.add(m.name);
    const byLabel = new Map<string, Set<string>>();
    for (const v of m.values) {
      for (const [label, value] of Object.entries(v.labels)) {
        if (label === 'le') continue;
        if (!byLabel.has(label)) byLabel.set(label, new Set());
        byLabel.get(label)!.add(String(value));
      }
    }
    inv.values.set(m.name, byLabel);
  }
  for (const name of inv.labels.keys()) assert.ok(inv.values.has(name), `the controller does not register ${name}`);
  for (const m of await standardRegistry.getMetricsAsJSON()) {
    inv.standard.add(m.name);
    if (String(m.type) === 'histogram') inv.histograms.add(m.name);
  }
  return inv;
}

interface Selector {
  metric: string;
  matchers: { label: string; op: string; value: string }[];
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/** The vector selectors of a PromQL expression (names and label matchers), leaving out functions and keywords. */
function selectorsOf(expr: string): Selector[] {
  const bodies: string[] = [];
  let s = expr.replace(/\{([^{}]*)\}/g, (_, body: string) => `{#${bodies.push(body) - 1}}`);
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  const out: Selector[] = [];
  for (const m of s.matchAll(/(?<![\w:.$])([a-zA-Z_:][\w:]*)?\s*(?:\{#(\d+)\})?(\s*\()?/g)) {
    const [, name, body, call] = m;
    if (name === undefined && body === undefined) continue;
    if (call !== undefined || (name !== undefined && PROMQL_KEYWORDS.has(name.toLowerCase()))) continue;
    const matchers = [...(body === undefined ? '' : bodies[Number(body)]!).matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
      ([, label, op, value]) => ({ label: label!, op: op!, value: value! }),
    );
    out.push({ metric: name ?? '', matchers });
  }
  return out;
}

/** Problems with the selectors of `expr`: unknown metric names, labels the metric does not have, values it never takes. */
function problemsOf(expr: string, inv: Inventory, where: string): string[] {
  const problems: string[] = [];
  for (const { metric, matchers } of selectorsOf(expr)) {
    if (metric === '') {
      problems.push(`${where}: a selector without a metric name in ${expr}`);
      continue;
    }
    if (SYNTHETIC.has(metric)) continue;
    const suffix = HISTOGRAM_SUFFIXES.find((x) => metric.endsWith(x) && inv.histograms.has(metric.slice(0, -x.length)));
    const base = suffix ? metric.slice(0, -suffix.length) : metric;
    if (inv.standard.has(base)) continue;
    const labels = inv.labels.get(base);
    if (labels === undefined) {
      problems.push(`${where}: ${metric} is neither a contract metric nor a standard process/Node.js metric`);
      continue;
    }
    for (const { label, op, value } of matchers) {
      if (TARGET_LABELS.includes(label) || (label === 'le' && suffix === '_bucket')) continue;
      if (!labels.has(label)) {
        problems.push(`${where}: ${base} has no label ${label} (it has: ${[...labels].join(', ') || 'none'})`);
        continue;
      }
      const known = inv.values.get(base)?.get(label);
      if (op === '=' && !value.includes('$') && known !== undefined && !known.has(value)) {
        problems.push(`${where}: ${base}{${label}="${value}"} never exists (values: ${[...known].join(', ')})`);
      }
    }
  }
  return problems;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Heading {
  anchor: string;
  level: number;
  /** index of its line */
  line: number;
}

/**
 * A Markdown file's headings with the anchors GitHub gives them: the heading's
 * text (link text kept, code marks dropped) in lowercase, punctuation removed,
 * each space a '-'; a repeated anchor gets -1, -2, ... Code blocks have no headings.
 */
function headings(markdown: string): Heading[] {
  const out: Heading[] = [];
  const seen = new Map<string, number>();
  let fence: string | undefined;
  for (const [i, line] of markdown.split('\n').entries()) {
    const f = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (f !== undefined) {
      if (fence === undefined) fence = f[0];
      else if (f[0] === fence) fence = undefined;
      continue;
    }
    if (fence !== undefined) continue;
    const m = /^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (m === null) continue;
    const text = m[2]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const base = text.toLowerCase().replace(/[^\p{L}\p{N}\p{M} _-]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ anchor: n === 0 ? base : `${base}-${n}`, level: m[1]!.length, line: i });
  }
  return out;
}

/** A heading's section: from the line after it to the next heading of the same or a higher level. */
function section(markdown: string, anchor: string): string {
  const all = headings(markdown);
  const at = all.findIndex((h) => h.anchor === anchor);
  if (at < 0) return '';
  const next = all.slice(at + 1).find((h) => h.level <= all[at]!.level);
  return markdown.split('\n').slice(all[at]!.line + 1, next?.line).join('\n');
}

async function homepage(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { homepage?: string };
  return pkg.homepage ?? assert.fail('package.json has no homepage: the runbook URLs are made from it');
}

async function alertRules(): Promise<Rule[]> {
  const doc = parseYaml(await readFile(join(promDir, 'alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

interface Panel {
  id?: number;
  type: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

async function dashboard(): Promise<{ panels: Panel[]; templating: { list: { name: string; type: string; query: unknown }[] } }> {
  return JSON.parse(await readFile(dashboardPath, 'utf8')) as never;
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Dashboard queries with Grafana's variables replaced, so that promtool can parse them. */
function asPromQL(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m').replace(/\$\{?(\w+)\}?/g, '.*');
}

async function run(args: string[], stdin?: string) {
  return runProcess(promtool, args, { cwd: repoRoot, timeoutMs: 60_000, ...(stdin !== undefined ? { stdin } : {}) });
}

describe('Prometheus configuration, alerting rules and Grafana dashboard', () => {
  it('promtool check config accepts prometheus.yml and finds its rule file', async () => {
    const r = await run(['check', 'config', join(promDir, 'prometheus.yml')]);
    assert.equal(r.code, 0, `promtool check config failed:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /SUCCESS: 1 rule files found/);
    const cfg = parseYaml(await readFile(join(promDir, 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    assert.deepEqual(cfg.rule_files, ['alerts.yml']);
    const job = cfg.scrape_configs.find((c) => c.job_name === 'membership-controller');
    assert.ok(job, 'a scrape job named membership-controller (alerts.yml selects up{job="membership-controller"})');
    for (const t of job.static_configs.flatMap((c) => c.targets)) assert.match(t, /:9477$/, `target ${t} on the default metrics port`);
  });

  it('promtool check rules accepts alerts.yml', async () => {
    const r = await run(['check', 'rules', join(promDir, 'alerts.yml')]);
    assert.equal(r.code, 0, `promtool check rules failed:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /SUCCESS: \d+ rules found/);
  });

  it('promtool test rules passes alerts.test.yml', async () => {
    const r = await run(['test', 'rules', join(promDir, 'alerts.test.yml')]);
    assert.equal(r.code, 0, `promtool test rules failed:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /SUCCESS/);
  });

  it('every alert has a severity, a summary and a description, is tested firing and not firing, and is documented', async () => {
    const rules = await alertRules();
    const tests = parseYaml(await readFile(join(promDir, 'alerts.test.yml'), 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const expected = ['MembershipControllerNoLeader', 'MembershipFailureToleranceZero', 'MembershipNodeJoiningTooLong',
      'MembershipReconcileErrors', 'MembershipOrphanedMembers', 'MembershipFencedWritesRejected', 'MembershipWatchRestartsFrequent',
      'MembershipSnapshotsFailing'];
    for (const name of expected) assert.ok(rules.some((r) => r.alert === name), `alerts.yml has no ${name}`);
    const runbook = await readFile(join(repoRoot, 'docs', 'observability.md'), 'utf8');
    for (const rule of rules) {
      const name = rule.alert ?? assert.fail(`a rule without an alert name: ${rule.expr}`);
      assert.match(rule.labels?.severity ?? '', /^(critical|warning|info)$/, `${name}: severity`);
      assert.ok((rule.annotations?.summary ?? '').length > 10, `${name}: summary`);
      assert.ok((rule.annotations?.description ?? '').length > 80, `${name}: a description that says what to do`);
      const mine = cases.filter((c) => c.alertname === name);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${name} is never tested firing`);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${name} is never tested not firing`);
      assert.ok(runbook.includes(`### ${name}\n`), `docs/observability.md has no section on ${name}`);
    }
  });

  it('every alert has a runbook_url: a section of docs/observability.md or docs/troubleshooting.md that says what to look at and the way out', async () => {
    const base = `${await homepage()}/blob/main/`;
    const docs = new Map<string, string>();
    const problems: string[] = [];
    const rules = await alertRules();
    assert.ok(rules.length >= 13, `${rules.length} rules`);
    for (const rule of rules) {
      const url = rule.annotations?.runbook_url;
      const m = url === undefined ? null : /^(.*?)(docs\/(?:observability|troubleshooting)\.md)#([a-z0-9_-]+)$/.exec(url);
      if (m === null || m[1] !== base) {
        problems.push(`${rule.alert}: runbook_url ${JSON.stringify(url)} is not ${base}docs/observability.md#<anchor> (or troubleshooting.md)`);
        continue;
      }
      const [, , file, anchor] = m as unknown as [string, string, string, string];
      if (!docs.has(file)) docs.set(file, await readFile(join(repoRoot, file), 'utf8'));
      const doc = docs.get(file)!;
      if (!headings(doc).some((h) => h.anchor === anchor)) {
        problems.push(`${rule.alert}: ${file} has no heading with the anchor #${anchor}`);
        continue;
      }
      const body = section(doc, anchor);
      // A command (a code span) in the paragraph that starts with the label.
      if (!/\*\*Look at:\*\*\s(?:[^\n]|\n(?!\n))*`[^`]+`/.test(body)) problems.push(`${rule.alert}: #${anchor} has no "**Look at:**" with a command`);
      if (!/\*\*Way out:\*\*\s(?:[^\n]|\n(?!\n))*`[^`]+`/.test(body)) problems.push(`${rule.alert}: #${anchor} has no "**Way out:**" with a command`);
    }
    assert.deepEqual(problems, []);
  });

  it("GitHub's heading anchors, as the runbook check makes them", () => {
    const doc = [
      '# Troubleshooting',
      '### 10. Database Space Exceeded (alarm NOSPACE; exit 69, `/healthz` 503)',
      '```sh',
      '# a comment in a code block',
      '```',
      '## Reset and Re-join',
      '## Reset and Re-join',
      '### [membershipctl](membershipctl.md) `describe` node_name',
      '### MembershipNodeJoiningTooLong',
    ].join('\n');
    assert.deepEqual(headings(doc).map((h) => h.anchor), [
      'troubleshooting',
      '10-database-space-exceeded-alarm-nospace-exit-69-healthz-503',
      'reset-and-re-join',
      'reset-and-re-join-1',
      'membershipctl-describe-node_name',
      'membershipnodejoiningtoolong',
    ]);
    assert.equal(section(doc, 'reset-and-re-join-1'), '### [membershipctl](membershipctl.md) `describe` node_name\n### MembershipNodeJoiningTooLong');
    assert.equal(section(doc, 'membershipctl-describe-node_name'), '');
    assert.equal(section(doc, 'no-such-heading'), '');
  });

  it('MembershipNodeJoiningTooLong fires per node: the node is a label and named in the summary, and a rule test expects it', async () => {
    const rule = (await alertRules()).find((r) => r.alert === 'MembershipNodeJoiningTooLong') ?? assert.fail('no MembershipNodeJoiningTooLong');
    assert.match(rule.expr, /by \(job, node\) \(membership_node_joining_since_timestamp_seconds\)/);
    assert.match(rule.annotations?.summary ?? '', /\{\{ \$labels\.node \}\}/);
    const tests = parseYaml(await readFile(join(promDir, 'alerts.test.yml'), 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }[] }[] }[];
    };
    const fired = tests.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.alertname === rule.alert).flatMap((c) => c.exp_alerts ?? []);
    assert.ok(fired.length > 0, 'a rule test in which it fires');
    for (const a of fired) {
      const node = a.exp_labels?.node ?? assert.fail(`an expected alert without a node label: ${JSON.stringify(a.exp_labels)}`);
      assert.match(a.exp_annotations?.summary ?? '', new RegExp(`^${node} has been Joining for `));
    }
  });

  it('the dashboard is valid JSON with a Prometheus data source variable used by every query', async () => {
    const d = await dashboard();
    const ds = d.templating.list.find((v) => v.type === 'datasource');
    assert.equal(ds?.query, 'prometheus');
    const panels = allPanels(d.panels);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of panels.filter((x) => x.type !== 'row')) {
      assert.equal(p.datasource?.uid, `\${${ds!.name}}`, `panel ${p.title}: data source`);
      assert.ok(p.targets?.length, `panel ${p.title} has queries`);
      for (const t of p.targets!) assert.equal(t.datasource?.uid, `\${${ds!.name}}`, `panel ${p.title}: query data source`);
      const g = p.gridPos!;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `panel ${p.title} fits the 24-column grid`);
    }
  });

  it('promtool parses every dashboard query', async () => {
    const d = await dashboard();
    const exprs = allPanels(d.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr)).filter((e): e is string => !!e);
    const rules = exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr: asPromQL(expr) }));
    const dir = await tempDir('dashboard-queries-');
    try {
      const file = join(dir, 'queries.yml');
      await writeFile(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = await run(['check', 'rules', file]);
      assert.equal(r.code, 0, `a dashboard query does not parse:\n${r.stdout}${r.stderr}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('alerts and dashboard query only metrics, labels and label values the controller exports', async () => {
    const inv = await inventory();
    const problems: string[] = [];
    for (const rule of await alertRules()) problems.push(...problemsOf(rule.expr, inv, `alert ${rule.alert}`));
    const d = await dashboard();
    const used = new Set<string>();
    for (const p of allPanels(d.panels)) {
      for (const t of p.targets ?? []) {
        if (!t.expr) continue;
        problems.push(...problemsOf(t.expr, inv, `panel "${p.title}"`));
        for (const s of selectorsOf(t.expr)) used.add(s.metric.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    for (const v of d.templating.list) {
      const query = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
      const inner = /^label_values\((.*),\s*\w+\)$/.exec(query ?? '')?.[1];
      if (inner !== undefined) problems.push(...problemsOf(inner, inv, `variable ${v.name}`));
    }
    assert.deepEqual(problems, []);
    const missing = Object.keys(CONTRACT_METRICS).filter((m) => !used.has(m));
    assert.deepEqual(missing, [], 'the dashboard shows every contract metric');
  });

  it('the name check catches a misspelt metric, label or label value', async () => {
    const inv = await inventory();
    assert.equal(problemsOf('rate(membership_reconcile_totl{result="error"}[5m])', inv, 'x').length, 1);
    assert.equal(problemsOf('membership_nodes{phse="Joining"}', inv, 'x').length, 1);
    assert.equal(problemsOf('membership_nodes{phase="Joinng"}', inv, 'x').length, 1);
    assert.equal(problemsOf('histogram_quantile(0.99, sum by (le) (rate(workqueue_work_duration_second_bucket[5m])))', inv, 'x').length, 1);
    assert.deepEqual(
      problemsOf('histogram_quantile(0.99, sum by (le, name) (rate(workqueue_work_duration_seconds_bucket{job=~"$job"}[$__rate_interval]))) and on (instance) up == 1', inv, 'x'),
      [],
    );
    assert.deepEqual(selectorsOf('sum by (job, instance) (increase(membership_fenced_writes_rejected_total[10m] offset 5m)) > 0').map((s) => s.metric), [
      'membership_fenced_writes_rejected_total',
    ]);
  });
});
