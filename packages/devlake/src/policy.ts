import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Layout } from './settings.js';

/** The Python package name of devlake's Rucio policy. */
export const POLICY_PACKAGE = 'devlake_policy';

/**
 * devlake's Rucio policy package: Rucio's generic policy, except that an account may boost its
 * own rules (`PUT /rules/{id}` with only `boost_rule`), so that the judge-repairer retries their
 * stuck transfers at once instead of hours later. Data lakes whose users retry their own rules
 * (ATLAS-like policies let rule owners update them) behave the same; under the plain generic
 * policy only admins may, and the companion tells the user so.
 */
const PACKAGE_INIT = `"""devlake's Rucio policy: generic, and rule owners may boost their own rules."""
SUPPORTED_VERSION = ">=41,<42"
`;

const PERMISSION = `"""Permissions of devlake: None leaves the decision to Rucio's generic policy."""
from rucio.core.rule import get_rule


def has_permission(issuer, action, kwargs, session=None):
    if action == 'update_rule' and set(kwargs.get('options') or {}) == {'boost_rule'}:
        rule = get_rule(kwargs['rule_id'], session=session)
        if rule['account'] == issuer:
            return True
    return None
`;

/** Writes the policy package into {@link policyPath}, which every Rucio process has on PYTHONPATH. */
export function writePolicyPackage(layout: Layout): void {
  const dir = join(policyPath(layout), POLICY_PACKAGE);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '__init__.py'), PACKAGE_INIT);
  writeFileSync(join(dir, 'permission.py'), PERMISSION);
}

/** The folder that holds the policy package, for PYTHONPATH. */
export function policyPath(layout: Layout): string {
  return join(layout.stateDir, 'rucio', 'policy');
}
