import { describe, it, expect } from 'vitest';
import type { RoutingRules } from '../../src/plan/schema.js';
import { route } from '../../src/domain/routing.js';

const routing: RoutingRules = {
  rules: [
    { name: 'gold-p1', when: { tier: ['gold'], priority: ['P1'] }, group: 'vip' },
    { name: 'security-to-security', when: { category: ['security'] }, group: 'security' },
    { name: 'network-to-noc', when: { category: ['network', 'outage'] }, group: 'network' },
    { name: 'bank', when: { senderDomain: ['bigbank.example'] }, group: 'banking' },
    { name: 'billing-to-billing', when: { category: ['billing'] }, group: 'billing' },
  ],
  default: 'service-desk',
};

const base = { category: 'general', priority: 'P3' as const, senderDomain: 'example.test' };

describe('route', () => {
  it('falls back to the default group', () => {
    expect(route(routing, base)).toEqual({ group: 'service-desk', rule: 'default' });
    expect(route({ rules: [], default: 'x' }, base)).toEqual({ group: 'x', rule: 'default' });
  });

  it('matches a category', () => {
    expect(route(routing, { ...base, category: 'security' })).toEqual({
      group: 'security',
      rule: 'security-to-security',
    });
    expect(route(routing, { ...base, category: 'billing' })).toEqual({
      group: 'billing',
      rule: 'billing-to-billing',
    });
  });

  it('any element of a list matches', () => {
    expect(route(routing, { ...base, category: 'outage' }).rule).toBe('network-to-noc');
    expect(route(routing, { ...base, category: 'network' }).rule).toBe('network-to-noc');
  });

  it('all keys of a rule must hold', () => {
    expect(route(routing, { ...base, tier: 'gold', priority: 'P1' }).rule).toBe('gold-p1');
    expect(route(routing, { ...base, tier: 'gold', priority: 'P2' }).rule).toBe('default');
    expect(route(routing, { ...base, priority: 'P1' }).rule).toBe('default');
  });

  it('the first matching rule wins', () => {
    expect(
      route(routing, { ...base, category: 'security', tier: 'gold', priority: 'P1' }).rule,
    ).toBe('gold-p1');
    expect(
      route(routing, { ...base, category: 'billing', senderDomain: 'bigbank.example' }).rule,
    ).toBe('bank');
  });

  it('sender domains match subdomains, case-insensitively, but not look-alikes', () => {
    expect(route(routing, { ...base, senderDomain: 'mail.bigbank.example' }).rule).toBe('bank');
    expect(route(routing, { ...base, senderDomain: 'BigBank.Example' }).rule).toBe('bank');
    expect(route(routing, { ...base, senderDomain: 'notbigbank.example' }).rule).toBe('default');
  });

  it('a rule with an empty when matches everything', () => {
    const r: RoutingRules = { rules: [{ name: 'all', when: {}, group: 'g' }], default: 'd' };
    expect(route(r, base)).toEqual({ group: 'g', rule: 'all' });
  });

  it('priority lists', () => {
    const r: RoutingRules = {
      rules: [{ name: 'urgent', when: { priority: ['P1', 'P2'] }, group: 'g' }],
      default: 'd',
    };
    expect(route(r, { ...base, priority: 'P2' }).group).toBe('g');
    expect(route(r, { ...base, priority: 'P3' }).group).toBe('d');
  });
});
