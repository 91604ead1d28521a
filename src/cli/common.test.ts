import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipError } from '../errors.js';
import { Command, CommanderError, Option } from 'commander';
import { MAX_DURATION_MS, addConnectionFlags, durationMs, httpUrlFlag, nonEmpty, parseDurationMs, unknownOptionsFirst, wholeNumber, wholeSeconds } from './common.js';

function usageError(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MembershipError, `expected a MembershipError, got ${String(err)}`);
    assert.equal(err.code, 'USAGE');
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

describe('durationMs', () => {
  const parse = durationMs('--timeout');
  const cases: [string, number][] = [
    ['1500ms', 1500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['90', 90_000],
    ['1.5s', 1500],
    [' 5s ', 5000],
    ['168h', MAX_DURATION_MS],
    // Go's time.ParseDuration forms, as etcdctl and systemd users type them
    ['1m30s', 90_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['500ms', 500],
    ['2h45m30.5s', 9_930_500],
    ['1s1s', 2000],
    ['+5s', 5000],
    ['.5s', 500],
    ['5.s', 5000],
    ['1500000us', 1500],
    ['2000000\u00b5s', 2000],
    ['2000000\u03bcs', 2000],
    ['1500000000ns', 1500],
    ['1h0m0s', 3_600_000],
    ['167h59m59.999s', MAX_DURATION_MS - 1],
  ];
  for (const [input, ms] of cases) {
    it(`parses ${JSON.stringify(input)} as ${ms} ms`, () => assert.equal(parse(input), ms));
  }

  for (const bad of ['', 'abc', '-5s', '5d', '5 s', '1e3', '1h30', 'h', '1m 30s', '1.2.3s', '--5s', '1x', '5sec', '.s', 's5']) {
    it(`rejects ${JSON.stringify(bad)}, naming the flag and the value`, () => {
      usageError(() => parse(bad), '--timeout', JSON.stringify(bad));
    });
  }

  it('says which forms it takes, in Go\'s form', () => usageError(() => parse('soon'), '--timeout must be a duration like 90s, 1m30s, 10m, 1h30m or 500ms', '"soon"'));
  it('names a negative duration as below the bound', () => usageError(() => parse('-1m30s'), '--timeout must be at least 1ms', '"-1m30s"'));

  it('refuses 0: a wait of nothing is no wait', () => usageError(() => parse('0'), '--timeout must be at least 1ms', '"0"'));
  it('refuses 0s and 0ms too', () => {
    usageError(() => parse('0s'), 'at least');
    usageError(() => parse('0ms'), 'at least');
  });

  // Node's timers fire at once past 2^31-1 ms (596 h): "--timeout 600h" ended in a second.
  for (const long of ['600h', '169h', '10081m', '604800001ms']) {
    it(`refuses ${long}, past the longest duration (7 days)`, () => usageError(() => parse(long), '--timeout must be at most 168h (7 days)', JSON.stringify(long)));
  }

  it('takes bounds of its own', () => {
    const resync = durationMs('--resync-period', { minMs: 1000, maxMs: 24 * 3_600_000 });
    assert.equal(resync('1s'), 1000);
    assert.equal(resync('24h'), 86_400_000);
    usageError(() => resync('500ms'), '--resync-period must be at least 1s');
    usageError(() => resync('25h'), '--resync-period must be at most 24h');
  });
});

describe('parseDurationMs', () => {
  it('keeps nanosecond precision without float noise', () => {
    assert.equal(parseDurationMs('1.1h'), 3_960_000);
    assert.equal(parseDurationMs('1ns'), 0.000001);
    assert.equal(parseDurationMs('0.1s'), 100);
  });
  it('reads 0 and -0 as Go does', () => {
    assert.equal(parseDurationMs('0'), 0);
    assert.equal(parseDurationMs('-0s'), 0);
  });
  it('is undefined for what is no duration', () => assert.equal(parseDurationMs('1h30'), undefined));
});

describe('wholeSeconds', () => {
  const parse = wholeSeconds('--lease-ttl', 2, 3600);

  it('takes a bare whole number of seconds, or a duration of whole seconds', () => {
    assert.equal(parse('10'), 10);
    assert.equal(parse('15s'), 15);
    assert.equal(parse('1m'), 60);
    assert.equal(parse('1m30s'), 90);
    assert.equal(parse('1h'), 3600);
    assert.equal(parse('2000ms'), 2);
  });

  for (const bad of ['0.3', '1500ms', '1s', '1h1s', '1e9', 'ten', '', '-5s']) {
    it(`rejects ${JSON.stringify(bad)}, naming the flag, the range and the value`, () => {
      usageError(() => parse(bad), '--lease-ttl must be a whole number from 2 to 3600 (seconds), or a duration of whole seconds such as 10s or 1m', JSON.stringify(bad));
    });
  }
});

describe('wholeNumber', () => {
  const parse = wholeNumber('--workers', 1, 1024);

  it('parses whole numbers in range', () => {
    assert.equal(parse('1'), 1);
    assert.equal(parse('32'), 32);
    assert.equal(parse('1024'), 1024);
    assert.equal(parse(' 8 '), 8);
    assert.equal(parse('1e3'), 1000);
  });

  // 0.4 rounded to 0 workers: the controller led and never reconciled; 1e9 ran out of heap.
  for (const bad of ['0.4', '2.5', '0', '-3', '1025', '1e9', 'abc', '', 'Infinity', 'NaN', '0x10']) {
    it(`rejects ${JSON.stringify(bad)}, naming the flag, the range and the value`, () => {
      usageError(() => parse(bad), '--workers must be a whole number from 1 to 1024', JSON.stringify(bad));
    });
  }
});

describe('unknownOptionsFirst', () => {
  /** A program shaped as the agent's: a subcommand with a required option and options that parse their values. */
  function program(): { run: (args: string[]) => unknown; errors: string[] } {
    const errors: string[] = [];
    const root = new Command('prog');
    root
      .command('join')
      .requiredOption('--config <file>', 'config')
      .option('--timeout <duration>', 'timeout', durationMs('--timeout'))
      .addOption(new Option('-o, --output <format>').choices(['json', 'table']))
      .action(() => undefined);
    const all = [root, ...root.commands];
    for (const cmd of all) cmd.exitOverride().configureOutput({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
    unknownOptionsFirst(all);
    return {
      errors,
      run: (args) => {
        try {
          root.parse(['node', 'prog', ...args]);
          return 'ok';
        } catch (err) {
          return err;
        }
      },
    };
  }

  it('names an unknown option before a missing required option', () => {
    const p = program();
    const err = p.run(['join', '--bogus']);
    assert.ok(err instanceof CommanderError);
    assert.equal(err.code, 'commander.unknownOption');
    assert.match(p.errors.join(''), /unknown option '--bogus'/);
  });

  it('names an unknown option before an invalid value given earlier', () => {
    const p = program();
    const err = p.run(['join', '--timeout', '600h', '--bogus']);
    assert.ok(err instanceof CommanderError);
    assert.equal(err.code, 'commander.unknownOption');
  });

  it('then an invalid value, before a missing required option', () => {
    const p = program();
    const err = p.run(['join', '--timeout', '600h']);
    assert.ok(err instanceof MembershipError, String(err));
    assert.match(err.message, /--timeout must be at most 168h/);
    const choice = program();
    const bad = choice.run(['join', '-o', 'bogus', '--config', 'x']);
    assert.ok(bad instanceof CommanderError);
    assert.equal(bad.code, 'commander.invalidArgument');
    assert.match(choice.errors.join(''), /option '-o, --output <format>' argument 'bogus' is invalid\. Allowed choices are json, table/);
  });

  it('then the missing required option; and a good command line runs', () => {
    const p = program();
    const err = p.run(['join']);
    assert.ok(err instanceof CommanderError);
    assert.equal(err.code, 'commander.missingMandatoryOptionValue');
    assert.equal(program().run(['join', '--config', 'x', '--timeout', '30s', '-o', 'json']), 'ok');
  });
});

describe('httpUrlFlag and nonEmpty', () => {
  const url = httpUrlFlag('--local-url');

  it('takes an http or https URL', () => {
    assert.equal(url('http://127.0.0.1:2379'), 'http://127.0.0.1:2379');
    assert.equal(url('https://[::1]:2479'), 'https://[::1]:2479');
  });

  it('refuses anything else, naming the flag and the value', () => {
    usageError(() => url('localhost-2379'), '--local-url must be an http:// or https:// URL', '"localhost-2379"');
    usageError(() => url('unix:///run/x.sock'), '--local-url', '"unix:///run/x.sock"');
  });

  it('refuses credentials in it without repeating them', () => {
    assert.throws(() => url('http://u:hunter2@127.0.0.1:2379'), (err: unknown) => {
      assert.ok(err instanceof MembershipError && err.code === 'USAGE');
      assert.equal(err.message, '--local-url must not carry credentials (user:password@)');
      return true;
    });
  });

  it('refuses an empty name or path', () => {
    usageError(() => nonEmpty('--identity')(''), '--identity must not be empty');
    usageError(() => nonEmpty('--state-dir')('  '), '--state-dir must not be empty');
    assert.equal(nonEmpty('--identity')('c1'), 'c1');
  });
});

describe('addConnectionFlags: --user', () => {
  const parse = (user: string) => addConnectionFlags(new Command().exitOverride()).parse(['--user', user], { from: 'user' }).opts();

  it('takes a user name', () => assert.equal(parse('operator').user, 'operator'));

  it('refuses name:password without repeating the password', () => {
    usageError(() => parse('root:s3cr3t'), '--user takes a user name only', '--password-file');
    assert.throws(() => parse('root:s3cr3t'), (err: Error) => !err.message.includes('s3cr3t'));
  });
});
