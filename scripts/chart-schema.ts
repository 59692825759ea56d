/**
 * Writes the `dlaas.instances` part of the Helm chart's values.schema.json from the companion's
 * own configuration schema (TypeBox, which is JSON Schema), so that `helm install` refuses an
 * instance the companion would refuse, with the same rules.
 *
 *   tsx scripts/chart-schema.ts      (npm run chart:schema)
 *
 * test/hub/chart.test.ts checks that the file is current.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigSchema } from '../packages/companion/src/config.js';

export const CHART_SCHEMA = join(import.meta.dirname, '..', 'helm', 'dlaas', 'values.schema.json');

interface ChartSchema {
  properties: { dlaas: { properties: { instances: Record<string, unknown> } } };
}

/** The schema of `dlaas.instances`: the companion's `instances`, as plain JSON. */
export function instancesSchema(): Record<string, unknown> {
  return {
    description:
      "Rucio instances, as in the companion's configuration file (generated from packages/companion/src/config.ts by npm run chart:schema).",
    ...(JSON.parse(JSON.stringify(ConfigSchema.properties.instances)) as Record<string, unknown>)
  };
}

/** values.schema.json as it should be: the committed one with `dlaas.instances` generated. */
export function currentChartSchema(): string {
  const schema = JSON.parse(readFileSync(CHART_SCHEMA, 'utf8')) as ChartSchema;
  schema.properties.dlaas.properties.instances = instancesSchema();
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync(CHART_SCHEMA, currentChartSchema());
  console.log(`dlaas: wrote the instances of ${CHART_SCHEMA} from the companion's schema.`);
}
