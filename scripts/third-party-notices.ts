/**
 * Writes the licence notices of the npm packages bundled into the companion, from esbuild's
 * metafile: each package's name, version, licence and licence text, in name order.
 *
 *   tsx scripts/third-party-notices.ts <metafile.json> <output.txt>
 *
 * Called by scripts/build-python.sh; the wheel ships the output next to companion.mjs.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';

interface Metafile {
  readonly inputs: Record<string, unknown>;
}

interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly license?: string;
}

const [metafilePath, output] = process.argv.slice(2);
if (metafilePath === undefined || output === undefined) {
  process.stderr.write('Usage: tsx scripts/third-party-notices.ts <metafile.json> <output.txt>\n');
  process.exit(2);
}

/** The folder of the package a bundled file belongs to: the innermost `node_modules/<name>`. */
function packageDir(input: string): string | undefined {
  const parts = input.split(/[\\/]/);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0 || at + 1 >= parts.length) {
    return undefined;
  }
  const scoped = parts[at + 1]?.startsWith('@');
  return parts.slice(0, at + (scoped ? 3 : 2)).join(sep);
}

const metafile = JSON.parse(readFileSync(metafilePath, 'utf8')) as Metafile;
const dirs = new Set(
  Object.keys(metafile.inputs).flatMap(input => {
    const dir = packageDir(input);
    return dir === undefined ? [] : [dir];
  })
);

const notices = [...dirs]
  .map(dir => {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
    const licenceFile = readdirSync(dir).find(file => /^(licen[cs]e|copying)(\.|$)/i.test(file));
    const text = licenceFile
      ? readFileSync(join(dir, licenceFile), 'utf8').trim()
      : `(no licence file in the package; its package.json says ${pkg.license ?? 'nothing'})`;
    return {
      name: pkg.name ?? dir,
      header: `${pkg.name ?? dir} ${pkg.version ?? ''} (${pkg.license ?? 'licence not stated'})`,
      text
    };
  })
  .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

if (notices.length === 0) {
  process.stderr.write(`dlaas: ${metafilePath} names no bundled npm package.\n`);
  process.exit(1);
}

const rule = '-'.repeat(78);
writeFileSync(
  output,
  [
    'The companion (companion.mjs) bundles these npm packages, whose licences follow.',
    '',
    ...notices.flatMap(n => [rule, n.header, rule, n.text, ''])
  ].join('\n')
);
process.stdout.write(`dlaas: ${notices.length} third-party notices in ${output}\n`);
