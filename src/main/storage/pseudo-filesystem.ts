import { realpath, statfs } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DrcError } from '../../shared/errors.js';

/**
 * Telling a directory that stores files from one a kernel makes up (/proc, /sys, cgroups…).
 * Shared by what refuses such places up front: restore targets and local repositories.
 * Node's recursive mkdir never returns for a path under /proc (mkdir says ENOENT, its
 * parent exists, so it tries again, forever, at full CPU and deaf to SIGTERM), so asking
 * first is the only way not to spin.
 */

/**
 * Kernel file systems, by their statfs magic numbers (linux/magic.h): procfs, sysfs,
 * devpts, cgroup v1 and v2, debugfs, tracefs, securityfs, configfs, bpffs, pstore,
 * efivarfs, mqueue, nsfs, selinuxfs, fusectl, binfmt_misc.
 */
const pseudoFilesystems = new Map<number, string>([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroupfs'],
  [0x63677270, 'cgroup2fs'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x62656570, 'configfs'],
  [0xcafe4a11, 'bpffs'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x19800202, 'mqueue'],
  [0x6e736673, 'nsfs'],
  [0xf97cff8c, 'selinuxfs'],
  [0x65735543, 'fusectl'],
  [0x42494e4d, 'binfmt_misc'],
]);

const kernelRoots = [
  ['/proc', 'procfs'],
  ['/sys', 'sysfs'],
  ['/dev', 'devtmpfs'],
] as const;

/**
 * The kernel file system `directory` lies on, or undefined for one that stores files.
 * /dev is a devtmpfs, which statfs cannot tell from an ordinary tmpfs, so /proc, /sys and
 * /dev are also refused by where they are (after links are resolved), on every system.
 */
export async function pseudoFilesystem(directory: string): Promise<string | undefined> {
  const real = await nearestRealPath(directory);
  for (const [root, name] of kernelRoots) if (real === root || real.startsWith(`${root}/`)) return `${name} (${root})`;
  const info = await statfs(real).catch(() => undefined);
  return info === undefined ? undefined : pseudoFilesystems.get(info.type >>> 0);
}

/**
 * The path with links resolved as far as it exists: a directory not created yet is judged
 * by the file system of the nearest one above it that does (statfs needs a real path).
 */
async function nearestRealPath(path: string): Promise<string> {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(await realpath(current), ...missing);
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      missing.unshift(basename(current));
      current = parent;
    }
  }
}

/**
 * validate: a local or removable repository at `path` must not lie on a kernel's pseudo
 * file system, where nothing it writes would be kept (and creating it would spin). Thrown
 * before anything is read or created, whatever the command.
 */
export async function refusePseudoFilesystemRepository(repository: string, path: string, where: string): Promise<void> {
  const pseudo = await pseudoFilesystem(path);
  if (pseudo === undefined) return;
  throw new DrcError('REPO_PATH_UNUSABLE', `unable to use repository '${repository}' at '${path}': it lies on ${pseudo}, a pseudo file system the kernel makes up, which cannot keep backups`, {
    hints: [`set ${where} to a directory on a disk or a mounted medium, e.g. under /srv or /var/backups`],
  });
}
