import { existsSync, lstatSync, mkdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** The companion's own configuration files of the user, in the order the companion reads them. */
export function userConfigFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const base = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  return ['companion.json', 'companion.yaml', 'companion.yml'].map(name =>
    join(base, 'dlaas', name)
  );
}

/**
 * Links the user's companion configuration (`~/.config/dlaas/companion.json`, which the companion
 * reads when `DLAAS_CONFIG` is not set) to devlake's `companionConfig`, so that a JupyterLab with
 * the dlaas wheel uses devlake with no other step. Only where the user has no configuration of
 * their own: a link whose target is gone (an earlier devlake's) is replaced, anything else is left
 * alone. Returns the link when it points at `companionConfig`, else the file that is used instead.
 */
export function linkUserConfig(
  companionConfig: string,
  env: NodeJS.ProcessEnv = process.env
): { path: string; linked: boolean } {
  const files = userConfigFiles(env);
  const own = files.find(path => existsSync(path));
  const link = files[0] as string;
  if (own !== undefined) {
    return { path: own, linked: own === link && pointsAt(link, companionConfig) };
  }
  if (isLink(link)) {
    rmSync(link);
  }
  mkdirSync(dirname(link), { recursive: true, mode: 0o700 });
  symlinkSync(companionConfig, link);
  return { path: link, linked: true };
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function pointsAt(link: string, target: string): boolean {
  try {
    return realpathSync(link) === realpathSync(target);
  } catch {
    return false;
  }
}
