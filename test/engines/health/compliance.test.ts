import { describe, expect, it } from 'vitest';
import { compliance321, notKept321 } from '../../../src/main/engines/health/compliance.js';
import { healthyReport, ruleInput } from './fixtures.js';

describe('3-2-1 rules', () => {
  it('counts production as a copy on fixed media', () => {
    expect(compliance321([])).toMatchObject({ copies: 1, mediaKinds: ['fixed'], compliant: false, shortfalls: ['1 copy counting production, 3 needed', 'one kind of media only (add a removable drive or a cloud repository)', 'no copy offsite'] });
    expect(compliance321([{ media: 'removable', offsite: true }, { media: 'fixed', offsite: false }])).toMatchObject({ copies: 3, compliant: true, shortfalls: [] });
  });

  it('CONFIG_NOT_321 when the configuration cannot keep it, else RECOVERY_POINT_NOT_321 for the newest backup', () => {
    const base = healthyReport();
    const short = compliance321([{ media: 'fixed', offsite: false }]);
    expect(notKept321(ruleInput())).toEqual([]);
    expect(notKept321(ruleInput(healthyReport({ compliance: { ...base.compliance, configuration: short } })))).toEqual([expect.objectContaining({ code: 'CONFIG_NOT_321', message: `the configured repositories cannot keep 3-2-1: ${short.shortfalls.join('; ')}` })]);
    const point = { ...base.compliance.recoveryPoints[0]!, compliance: short };
    expect(notKept321(ruleInput(healthyReport({ compliance: { ...base.compliance, recoveryPoints: [point] } })))).toEqual([expect.objectContaining({ code: 'RECOVERY_POINT_NOT_321', message: expect.stringContaining('the newest backup b1 is not kept 3-2-1') as string })]);
  });
});
