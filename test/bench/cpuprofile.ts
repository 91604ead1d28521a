/**
 * `node dist/test/bench/cpuprofile.js FILE.cpuprofile [N]`: the functions a
 * V8 CPU profile (node --cpu-prof) spent most time in, by self time and by
 * total time (self plus callees), with file and line. Used to profile the
 * controller under the scale scenario (BENCH_CONTROLLER_NODE_ARGS, see
 * docs/benchmarks.md).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function frameName(n: ProfileNode): string {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const where = url === '' ? '' : ` ${url.startsWith('/') ? relative(process.cwd(), url) : url}:${n.callFrame.lineNumber + 1}`;
  return `${n.callFrame.functionName || '(anonymous)'}${where}`;
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node dist/test/bench/cpuprofile.js FILE.cpuprofile [N]');
    process.exit(64);
  }
  const top = Number(topArg ?? 25);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Time per sample: the delta to the next sample.
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  });
  const totalUs = profile.endTime - profile.startTime;

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    self.set(frameName(node), (self.get(frameName(node)) ?? 0) + us);
    // Each function on the stack once, however often it recurses.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = frameName(byId.get(cur)!);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
  const show = (title: string, m: Map<string, number>, filter: (name: string) => boolean = () => true) => {
    console.log(`\n${title}`);
    for (const [name, us] of [...m].filter(([n]) => filter(n)).sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`  ${(us / 1000).toFixed(0).padStart(8)} ms  ${((us / totalUs) * 100).toFixed(1).padStart(5)} %  ${name}`);
    }
  };
  console.log(`profile ${file}: ${(totalUs / 1e6).toFixed(1)} s wall, ${profile.samples.length} samples`);
  show('self time', self);
  show('total time (self + callees), project code', inclusive, (n) => n.includes('dist/src/'));
  show('total time (self + callees), all', inclusive);
}

main();
