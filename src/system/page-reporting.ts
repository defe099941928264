import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** virtio's device id of a memory balloon, and the balloon's feature bit for free page reporting (virtio 1.2, 5.5.3). */
const VIRTIO_ID_BALLOON = 0x0005;
const VIRTIO_BALLOON_F_REPORTING = 5;

/**
 * Whether this (virtual) machine hands the memory it frees back to its host. With free page reporting the
 * guest's balloon driver reports free blocks, the host discards them, and the next use of such a page
 * makes the host fault it in again. On the benchmark's VMs that stalled the event loop for 16-48 ms now and
 * then, even at one request at a time, and slowed PIN checks that map fresh memory several times over at
 * a light load; neither with reporting held off (docs/deployment.md).
 */
export interface PageReporting {
  /** A balloon device that negotiated free page reporting is present. */
  isActive: boolean;
  /** The smallest free block reported, as a page order (2^order pages), where the kernel can report. */
  order?: number;
  /** KiB reported since boot, where the kernel counts them (not every kernel does). */
  reportedKiB?: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function readInteger(path: string): number | undefined {
  const text = readText(path);
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/** Reads it from sysfs (`sysfs` is for tests); a machine without any of it reads as not active. */
export function readPageReporting(sysfs = '/sys'): PageReporting {
  const devices = join(sysfs, 'bus/virtio/devices');
  let names: string[] = [];
  try {
    names = readdirSync(devices);
  } catch {
    // not a virtio guest
  }
  // `features` is one character per feature bit, bit 0 first.
  const isActive = names.some((name) => {
    const id = readText(join(devices, name, 'device'));
    return id !== undefined && Number.parseInt(id, 16) === VIRTIO_ID_BALLOON && readText(join(devices, name, 'features'))?.charAt(VIRTIO_BALLOON_F_REPORTING) === '1';
  });
  const parameters = join(sysfs, 'module/page_reporting/parameters');
  return { isActive, order: readInteger(join(parameters, 'page_reporting_order')), reportedKiB: readInteger(join(parameters, 'reported_kib')) };
}

/**
 * At or above this many page faults a PIN check maps its memory afresh. Measured per verification with
 * the Argon2id library on 2-core EPYC VMs: 259-266 for m=19 MiB (the default), 9 MiB and 7 MiB, each a
 * fresh block advised to huge pages (4,865 with huge pages off); 6 for m=12 MiB and 23 for m=46 MiB, whose
 * blocks the library keeps between runs.
 */
export const FRESH_MEMORY_PAGE_FAULTS = 100;

/**
 * The minor page faults of the whole process during one `hash()`, once a first run has warmed the pool and
 * the library: what a PIN check costs in fresh memory. The counter is the process's, so the fewest of
 * `measuredRuns` runs is taken: work that happens to fault beside one of them (a worker thread still
 * starting, a garbage collection) does not count as the check's.
 */
export async function pageFaultsPerHash(
  hash: () => Promise<unknown>,
  readFaults: () => number = () => process.resourceUsage().minorPageFault,
  measuredRuns = 2,
): Promise<number> {
  await hash();
  let fewest = Number.POSITIVE_INFINITY;
  for (let run = 0; run < measuredRuns; run += 1) {
    const before = readFaults();
    await hash();
    fewest = Math.min(fewest, readFaults() - before);
  }
  return fewest;
}
