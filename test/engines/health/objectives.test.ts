import { describe, expect, it } from 'vitest';
import { rpoBreached, rpoBreachedInRepository, rtoBreached } from '../../../src/main/engines/health/objectives.js';
import { healthyReport, ruleInput } from './fixtures.js';

const objectives = healthyReport().objectives;

describe('recovery objective rules', () => {
  it('RPO: nothing when met, NO_RECOVERY_POINT without any, RPO_BREACHED past the goal', () => {
    expect(rpoBreached(ruleInput())).toEqual([]);
    expect(rpoBreached(ruleInput(healthyReport({ objectives: { ...objectives, rpo: { goalSeconds: 3600, met: false, repositories: [] } } }))).map((alert) => alert.code)).toEqual(['NO_RECOVERY_POINT']);
    const [breached] = rpoBreached(ruleInput(healthyReport({ objectives: { ...objectives, rpo: { goalSeconds: 3600, seconds: 5400, met: false, repositories: [] } } })));
    expect(breached).toMatchObject({ severity: 'critical', code: 'RPO_BREACHED', message: 'the newest recoverable point is 90 min old (objective 60 min)' });
  });

  it('RPO per repository: a lagging copy warns only while the objective is met overall', () => {
    const repositories = [
      { repository: 'nas', seconds: 5, caughtUp: false, met: true },
      { repository: 'usb', seconds: 9000, caughtUp: false, met: false },
    ];
    const met = healthyReport({ objectives: { ...objectives, rpo: { goalSeconds: 3600, seconds: 5, met: true, repositories } } });
    expect(rpoBreachedInRepository(ruleInput(met))).toEqual([expect.objectContaining({ severity: 'warning', code: 'RPO_BREACHED_REPOSITORY', repository: 'usb', message: "repository 'usb' reaches only 2.5 h back (objective 60 min)" })]);
    // When the freshest copy breaches too, RPO_BREACHED says it once.
    const breached = healthyReport({ objectives: { ...objectives, rpo: { goalSeconds: 3600, seconds: 9000, met: false, repositories } } });
    expect(rpoBreachedInRepository(ruleInput(breached))).toEqual([]);
  });

  it('RTO: unknown without a restore test, critical past the goal', () => {
    expect(rtoBreached(ruleInput())).toEqual([]);
    expect(rtoBreached(ruleInput(healthyReport({ objectives: { ...objectives, rto: { goalSeconds: 14_400, met: false } } })))).toEqual([expect.objectContaining({ severity: 'warning', code: 'RTO_UNKNOWN' })]);
    expect(rtoBreached(ruleInput(healthyReport({ objectives: { ...objectives, rto: { goalSeconds: 14_400, estimateSeconds: 18_000, met: false } } })))).toEqual([
      expect.objectContaining({ severity: 'critical', code: 'RTO_BREACHED', message: 'a restore is estimated to take 5.0 h (objective 4.0 h)' }),
    ]);
  });
});
