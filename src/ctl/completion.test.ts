import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Argument, Command, Option } from 'commander';
import { bashCompletion, commandSpecs, completeWith, zshCompletion } from './completion.js';

function sampleProgram(): Command {
  const program = new Command('toolctl');
  program
    .command('get')
    .argument('[name]')
    .addOption(new Option('-o, --output <format>').choices(['table', 'json']))
    .option('-w, --watch')
    .addOption(completeWith(new Option('--sort-by <path>').argParser((s) => s), ['.metadata.name', '.status.phase']));
  program.command('wait').argument('<name>').requiredOption('--for <what>').option('--timeout <duration>');
  program.command('members').addArgument(new Argument('<service>').choices(['chainfire', 'flaredb'])).option('--config <file>');
  program.command('rbac').command('apply').requiredOption('--nodes <names>');
  return program;
}

describe('shell completion', () => {
  it('describes every command, its flags, the flags that take a value, their choices and the arguments', () => {
    const specs = commandSpecs(sampleProgram());
    assert.deepEqual(specs.map((s) => s.path), ['', 'get', 'wait', 'members', 'rbac', 'rbac apply', 'help']);
    const get = specs.find((s) => s.path === 'get')!;
    assert.deepEqual(get.flags, ['--help', '-o', '--output', '-w', '--watch', '--sort-by']);
    assert.deepEqual(get.valueFlags, ['-o', '--output', '--sort-by']);
    assert.deepEqual(get.flagValues, { '-o': ['table', 'json'], '--output': ['table', 'json'], '--sort-by': ['.metadata.name', '.status.phase'] });
    assert.deepEqual(get.args, [['__nodes__']]);
    const wait = specs.find((s) => s.path === 'wait')!;
    assert.ok(wait.flagValues['--for']!.includes('condition=Ready') && wait.flagValues['--for']!.includes('phase=Removed') && wait.flagValues['--for']!.includes('delete'));
    assert.deepEqual(specs.find((s) => s.path === 'members')!.args, [['chainfire', 'flaredb']]);
    assert.deepEqual(specs.find((s) => s.path === 'rbac')!.subcommands, ['apply']);
    assert.deepEqual(specs[0]!.subcommands, ['get', 'wait', 'members', 'rbac', 'help']);
  });

  it('the bash script completes commands, flags, flag values (also after "=") and subcommands', () => {
    const script = bashCompletion(sampleProgram());
    const complete = (line: string) => {
      const r = spawnSync('bash', ['-c', `${script}\nCOMP_LINE="$1"; COMP_POINT=\${#COMP_LINE}; _toolctl; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', line], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean);
    };
    assert.deepEqual(complete('toolctl '), ['get', 'wait', 'members', 'rbac', 'help']);
    assert.deepEqual(complete('toolctl me'), ['members']);
    assert.deepEqual(complete('toolctl get --'), ['--help', '--output', '--watch', '--sort-by']);
    assert.deepEqual(complete('toolctl get --sort-by .s'), ['.status.phase']);
    assert.deepEqual(complete('toolctl get -o j'), ['json']);
    assert.deepEqual(complete('toolctl members '), ['chainfire', 'flaredb']);
    assert.deepEqual(complete('toolctl rbac '), ['apply']);
    assert.deepEqual(complete('toolctl rbac apply --'), ['--help', '--nodes']);
    assert.deepEqual(complete('toolctl wait node04 --for phase=Rem'), ['Removing', 'Removed']);
    assert.deepEqual(complete('toolctl wait node04 --timeout 5m --for del'), ['delete']);
    assert.deepEqual(complete('toolctl help '), ['get', 'wait', 'members', 'rbac']);
  });

  it('the zsh script registers the function with compdef', () => {
    const script = zshCompletion(sampleProgram());
    assert.match(script, /^#compdef toolctl\n/);
    assert.match(script, /compdef _toolctl toolctl/);
    assert.match(script, /"\$\{words\[1\]\}" get -o name/);
  });
});
