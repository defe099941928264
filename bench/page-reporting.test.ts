import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readPageReporting, reportedMiBBetween } from './page-reporting.js';
import { pageReportingText } from './report.js';

/** A sysfs tree with the given virtio devices (id, feature bits) and page_reporting parameters. */
function fakeSysfs(devices: Array<{ id: string; features: string }>, parameters: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'sysfs-'));
  devices.forEach((device, index) => {
    const dir = join(root, 'bus/virtio/devices', `virtio${index}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'device'), `${device.id}\n`);
    writeFileSync(join(dir, 'features'), `${device.features.padEnd(128, '0')}\n`);
  });
  const dir = join(root, 'module/page_reporting/parameters');
  mkdirSync(dir, { recursive: true });
  for (const [name, value] of Object.entries(parameters)) writeFileSync(join(dir, name), `${value}\n`);
  return root;
}

describe('free page reporting', () => {
  const roots: string[] = [];
  after(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));
  const sysfs = (...args: Parameters<typeof fakeSysfs>): string => {
    const root = fakeSysfs(...args);
    roots.push(root);
    return root;
  };

  it('is active when a balloon device negotiated the reporting feature (bit 5)', () => {
    const root = sysfs([{ id: '0x0002', features: '1111111' }, { id: '0x0005', features: '01100101' }], { page_reporting_order: '9', reported_kib: '10894552' });
    assert.deepEqual(readPageReporting(root), { isActive: true, order: 9, reportedKiB: 10894552 });
  });

  it('is not active with a balloon that did not negotiate it, or with reporting bits on other devices', () => {
    assert.equal(readPageReporting(sysfs([{ id: '0x0005', features: '01100001' }], { page_reporting_order: '9' })).isActive, false);
    assert.equal(readPageReporting(sysfs([{ id: '0x0001', features: '00000100' }])).isActive, false, 'a network device with bit 5');
  });

  it('reads a machine without virtio or page reporting as not active, and leaves missing counters out', () => {
    assert.deepEqual(readPageReporting(join(tmpdir(), 'no-such-sysfs-here')), { isActive: false, order: undefined, reportedKiB: undefined });
    assert.deepEqual(readPageReporting(sysfs([], { page_reporting_order: '11' })), { isActive: false, order: 11, reportedKiB: undefined });
  });

  it('gives the MiB reported between two readings only where the kernel counts them', () => {
    assert.equal(reportedMiBBetween({ isActive: true, reportedKiB: 10_000 }, { isActive: true, reportedKiB: 92_160 }), 80);
    assert.equal(reportedMiBBetween({ isActive: true }, { isActive: true }), undefined);
  });

  it("says in the results' first line whether it was on, with the order and the MiB reported where known", () => {
    assert.equal(pageReportingText({ isActive: false, order: 9 }), 'Free page reporting to the host: off.');
    const on = pageReportingText({ isActive: true, order: 9, reportedKiB: 1, reportedMiBDuringRun: 3136 });
    assert.match(on, /^Free page reporting to the host: on, blocks of 2\^9 pages and up, 3136 MiB reported during the run \(/);
    assert.match(pageReportingText({ isActive: true }), /^Free page reporting to the host: on \(/, 'nothing made up where the kernel says nothing');
  });
});
