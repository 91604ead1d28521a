import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { localData } from '../schema/agent-report.js';
import { MEMBER_ID_FILE, readLocalData, readMemberId, rememberMemberId, sameMember } from './local-data.js';

const fresh = () => mkdtemp(join(tmpdir(), 'local-data-'));

describe('readLocalData: what the agent reports of a service\'s data directory', () => {
  it('Chainfire: present once <dataDir>/member exists (etcd\'s layout), whatever else the directory holds', async () => {
    const dir = await fresh();
    const dataDir = join(dir, 'chainfire');
    const stateDir = join(dir, 'state');
    assert.equal((await readLocalData('chainfire', dataDir, stateDir))?.present, false, 'no directory');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'lost+found'), '');
    assert.equal((await readLocalData('chainfire', dataDir, stateDir))?.present, false, 'a directory without member/');
    await mkdir(join(dataDir, 'member', 'wal'), { recursive: true });
    const data = await readLocalData('chainfire', dataDir, stateDir);
    assert.equal(data?.present, true);
    assert.equal(data?.memberId, undefined, 'no member id before the agent started one');
    assert.ok(!Number.isNaN(Date.parse(data!.checkedAt)));
    localData.parse(data);
  });

  it('Chainfire: the member id the agent started the local etcd as, from the state dir, whenever it is there', async () => {
    const dir = await fresh();
    const stateDir = join(dir, 'state');
    await rememberMemberId(stateDir, '6C1E2F3A4B5D6E7F');
    assert.equal((await readFile(join(stateDir, MEMBER_ID_FILE), 'utf8')), '6c1e2f3a4b5d6e7f\n');
    // Data wiped, the id file kept: the report says both.
    const data = await readLocalData('chainfire', join(dir, 'chainfire'), stateDir);
    assert.deepEqual({ present: data?.present, memberId: data?.memberId }, { present: false, memberId: '6c1e2f3a4b5d6e7f' });
    localData.parse(data);
    // A file that holds no id is no id.
    await writeFile(join(stateDir, MEMBER_ID_FILE), 'not-hex\n');
    assert.equal(await readMemberId(stateDir), undefined);
    await assert.rejects(rememberMemberId(stateDir, 'xyz'), /not a Chainfire member id/);
  });

  it('FlareDB: present when the directory exists and is not empty; never a member id', async () => {
    const dir = await fresh();
    const dataDir = join(dir, 'flaredb');
    const stateDir = join(dir, 'state');
    await rememberMemberId(stateDir, 'abc');
    assert.deepEqual(await readLocalData('flaredb', dataDir, stateDir).then((d) => d && { present: d.present, memberId: d.memberId }), { present: false, memberId: undefined });
    await mkdir(dataDir);
    assert.equal((await readLocalData('flaredb', dataDir, stateDir))?.present, false, 'empty');
    await writeFile(join(dataDir, 'CURRENT'), 'x');
    assert.equal((await readLocalData('flaredb', dataDir, stateDir))?.present, true);
  });

  it('says nothing (undefined) when it cannot tell, rather than "no data"', async () => {
    const dir = await fresh();
    await chmod(dir, 0o755);
    const dataDir = join(dir, 'flaredb');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'CURRENT'), 'x');
    await chmod(dataDir, 0o000);
    try {
      if (process.getuid?.() !== 0) {
        assert.equal(await readLocalData('flaredb', dataDir, join(dir, 'state')), undefined);
        return;
      }
      // root reads any directory: look as nobody instead (the module is loaded as root first, so that a
      // checkout nobody may not enter, e.g. under mktemp -d's 0700 directory, does not matter).
      const script =
        `import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, 'local-data.js')).href)}).then(async (m) => {` +
        '  process.setgid(65534); process.setuid(65534);' +
        `  const r = await m.readLocalData('flaredb', ${JSON.stringify(dataDir)}, ${JSON.stringify(join(dir, 'state'))});` +
        `  console.log(JSON.stringify({ said: r === undefined ? 'nothing' : r }));` +
        '});';
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { said: 'nothing' });
    } finally {
      await chmod(dataDir, 0o700);
    }
  });

  it('sameMember compares hex ids, leading zeros and case aside', () => {
    assert.ok(sameMember('6c1e', '6C1E'));
    assert.ok(sameMember('06c1e', '6c1e'));
    assert.ok(!sameMember('6c1e', '6c1f'));
    assert.ok(!sameMember(undefined, '6c1e'));
    assert.ok(!sameMember('6c1e', undefined));
    assert.ok(!sameMember('zz', 'zz'));
  });
});
