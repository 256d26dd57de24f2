import { describe, it, expect } from 'vitest';
import { parsePlan } from '../../src/plan/load.js';
import type { ClassificationRules, Matrix } from '../../src/plan/schema.js';
import {
  classify,
  customerTier,
  priorityConfirmation,
  priorityFor,
  type IncidentFacts,
} from '../../src/domain/classify.js';

// The classification part of plan.example.yaml, validated by the real schema.
const plan = parsePlan(`
version: 1
organisation: Test
customers:
  - { domain: bigbank.example, name: Big Bank, tier: gold }
  - { domain: branch.bigbank.example, tier: silver }
  - { address: ceo@smallshop.example, tier: gold }
  - { domain: smallshop.example, tier: bronze }
  - { address: Boss@Bigbank.Example, tier: platinum }
classification:
  defaults: { category: general, impact: medium, urgency: medium }
  rules:
    - name: outage-words
      when: { text: '\\b(down|outage|unavailable|cannot log ?in)\\b' }
      set: { category: outage, impact: high, urgency: high }
    - name: network-words
      when: { text: '\\b(vpn|dns|network|latency|packet loss)\\b' }
      set: { category: network, skills: [vpn] }
    - name: billing-words
      when: { text: '\\b(invoice|refund|billing|charged)\\b' }
      set: { category: billing, skills: [invoices] }
    - name: security-words
      when: { text: '\\b(phishing|breach|malware|ransomware|suspicious login)\\b' }
      set: { category: security, impact: high, urgency: high }
    - name: gold-customers
      when: { tier: gold }
      set: { urgency: high }
    - name: how-to-questions
      when: { subject: '^(how|can i|question)\\b' }
      set: { impact: low, urgency: low, category: question }
`);

const rules = plan.classification;
const matrix = plan.matrix;

function facts(over: Partial<IncidentFacts> = {}): IncidentFacts {
  return {
    subject: 'Hello',
    body: 'Some text.',
    sender: 'someone@example.test',
    senderDomain: 'example.test',
    attachmentNames: [],
    ...over,
  };
}

/** A single-rule rule set, to test one condition at a time. */
function only(when: ClassificationRules['rules'][number]['when']): ClassificationRules {
  return {
    defaults: { category: 'general', impact: 'medium', urgency: 'medium' },
    rules: [{ name: 'r', when, set: { category: 'hit' } }],
  };
}
const fires = (
  when: ClassificationRules['rules'][number]['when'],
  f: Partial<IncidentFacts>,
): boolean => classify(only(when), matrix, facts(f)).fired.includes('r');

describe('customerTier', () => {
  it('matches a domain', () => {
    expect(customerTier(plan, 'anna@bigbank.example')).toBe('gold');
  });

  it('matches subdomains of a domain, the most specific domain winning', () => {
    expect(customerTier(plan, 'ops@mail.bigbank.example')).toBe('gold');
    expect(customerTier(plan, 'ops@branch.bigbank.example')).toBe('silver');
    expect(customerTier(plan, 'ops@x.branch.bigbank.example')).toBe('silver');
  });

  it('does not match a domain that merely ends with the same letters', () => {
    expect(customerTier(plan, 'eve@notbigbank.example')).toBeUndefined();
    expect(customerTier(plan, 'eve@bigbank.example.evil')).toBeUndefined();
  });

  it('an address match wins over a domain match', () => {
    expect(customerTier(plan, 'ceo@smallshop.example')).toBe('gold');
    expect(customerTier(plan, 'clerk@smallshop.example')).toBe('bronze');
    expect(customerTier(plan, 'boss@bigbank.example')).toBe('platinum');
  });

  it('is case-insensitive and tolerates angle brackets and spaces', () => {
    expect(customerTier(plan, ' <CEO@SmallShop.Example> ')).toBe('gold');
    expect(customerTier(plan, 'Anna@BIGBANK.example')).toBe('gold');
  });

  it('unknown senders have no tier', () => {
    expect(customerTier(plan, 'x@unknown.example')).toBeUndefined();
    expect(customerTier(plan, 'not-an-address')).toBeUndefined();
    expect(customerTier({ customers: [] }, 'anna@bigbank.example')).toBeUndefined();
  });
});

describe('priorityFor', () => {
  it('reads impact as the row and urgency as the column', () => {
    expect(priorityFor(matrix, 'high', 'high')).toBe('P1');
    expect(priorityFor(matrix, 'high', 'low')).toBe('P3');
    expect(priorityFor(matrix, 'low', 'high')).toBe('P3');
    expect(priorityFor(matrix, 'medium', 'high')).toBe('P2');
    expect(priorityFor(matrix, 'high', 'medium')).toBe('P2');
    expect(priorityFor(matrix, 'medium', 'medium')).toBe('P3');
    expect(priorityFor(matrix, 'low', 'low')).toBe('P4');
  });

  it('uses a custom matrix', () => {
    const m = { ...matrix, low: { ...matrix.low, low: 'P1' } } as Matrix;
    expect(priorityFor(m, 'low', 'low')).toBe('P1');
    const asym = { ...matrix, high: { ...matrix.high, low: 'P4' } } as Matrix;
    expect(priorityFor(asym, 'high', 'low')).toBe('P4');
    expect(priorityFor(asym, 'low', 'high')).toBe('P3');
  });

  it('throws on an incomplete matrix', () => {
    const m = { high: matrix.high } as unknown as Matrix;
    expect(() => priorityFor(m, 'low', 'low')).toThrow(RangeError);
  });
});

describe('classify with the example rules', () => {
  it('no rule fires: defaults', () => {
    expect(classify(rules, matrix, facts())).toEqual({
      category: 'general',
      impact: 'medium',
      urgency: 'medium',
      priority: 'P3',
      skills: [],
      fired: [],
    });
  });

  it('an outage is P1', () => {
    const c = classify(rules, matrix, facts({ subject: 'Portal is DOWN' }));
    expect(c).toMatchObject({
      category: 'outage',
      impact: 'high',
      urgency: 'high',
      priority: 'P1',
      fired: ['outage-words'],
    });
  });

  it('category from the first fired rule that sets it, skills from the first that sets skills', () => {
    const c = classify(
      rules,
      matrix,
      facts({ subject: 'VPN down', body: 'the vpn is unavailable' }),
    );
    expect(c.fired).toEqual(['outage-words', 'network-words']);
    expect(c.category).toBe('outage');
    expect(c.skills).toEqual(['vpn']);
    expect(c.priority).toBe('P1');
  });

  it('skills from an earlier rule are not replaced by a later one', () => {
    const c = classify(rules, matrix, facts({ body: 'DNS trouble and the invoice is wrong' }));
    expect(c.fired).toEqual(['network-words', 'billing-words']);
    expect(c.category).toBe('network');
    expect(c.skills).toEqual(['vpn']);
  });

  it('a rule that sets only urgency raises just that', () => {
    const c = classify(rules, matrix, facts({ tier: 'gold' }));
    expect(c).toMatchObject({
      category: 'general',
      impact: 'medium',
      urgency: 'high',
      priority: 'P2',
      fired: ['gold-customers'],
    });
  });

  it('a how-to question alone lowers impact and urgency below the defaults', () => {
    const c = classify(rules, matrix, facts({ subject: 'How do I export data?' }));
    expect(c).toMatchObject({
      category: 'question',
      impact: 'low',
      urgency: 'low',
      priority: 'P4',
      fired: ['how-to-questions'],
    });
  });

  it('the highest value set by any fired rule wins', () => {
    // Gold customer asks a question: impact low (only the question sets it), urgency high.
    const gold = classify(
      rules,
      matrix,
      facts({ subject: 'Question about exports', tier: 'gold' }),
    );
    expect(gold).toMatchObject({
      impact: 'low',
      urgency: 'high',
      priority: 'P3',
      category: 'question',
    });
    // A question about an outage: high beats low on both.
    const outage = classify(
      rules,
      matrix,
      facts({ subject: 'Can I do anything? The site is down' }),
    );
    expect(outage.fired).toEqual(['outage-words', 'how-to-questions']);
    expect(outage).toMatchObject({
      impact: 'high',
      urgency: 'high',
      category: 'outage',
      priority: 'P1',
    });
  });

  it('text matches the body too; subject rules only the subject', () => {
    expect(classify(rules, matrix, facts({ body: 'We saw phishing mails' })).category).toBe(
      'security',
    );
    expect(classify(rules, matrix, facts({ body: 'How do I export?' })).fired).toEqual([]);
  });

  it('regexes are case-insensitive and respect word boundaries', () => {
    expect(classify(rules, matrix, facts({ subject: 'REFUND please' })).category).toBe('billing');
    expect(classify(rules, matrix, facts({ subject: 'downtown office party' })).fired).toEqual([]);
    expect(classify(rules, matrix, facts({ subject: 'I cannot login' })).category).toBe('outage');
  });

  it('returns fresh arrays (callers may modify the result)', () => {
    const a = classify(rules, matrix, facts({ body: 'vpn' }));
    a.skills.push('x');
    expect(classify(rules, matrix, facts({ body: 'vpn' })).skills).toEqual(['vpn']);
    expect(rules.rules[1]?.set.skills).toEqual(['vpn']);
  });

  it('uses the plan matrix for the priority', () => {
    const m = { ...matrix, high: { ...matrix.high, high: 'P2' } } as Matrix;
    expect(classify(rules, m, facts({ subject: 'outage' })).priority).toBe('P2');
  });
});

describe('classify conditions', () => {
  it('subject', () => {
    expect(fires({ subject: '^urgent' }, { subject: 'Urgent: help' })).toBe(true);
    expect(fires({ subject: '^urgent' }, { subject: 'not urgent', body: 'urgent' })).toBe(false);
  });

  it('body', () => {
    expect(fires({ body: 'stack ?trace' }, { body: 'here is the STACKTRACE' })).toBe(true);
    expect(fires({ body: 'stack ?trace' }, { subject: 'stack trace', body: '' })).toBe(false);
  });

  it('text: subject or body', () => {
    expect(fires({ text: 'printer' }, { subject: 'printer' })).toBe(true);
    expect(fires({ text: 'printer' }, { body: 'the printer' })).toBe(true);
    expect(fires({ text: 'printer' }, {})).toBe(false);
  });

  it('regexes use the unicode flag', () => {
    expect(fires({ text: '^\\p{Lu}{3}$' }, { subject: 'ÄÖÜ' })).toBe(true);
  });

  it('sender: any of a list, case-insensitive', () => {
    const when = { sender: ['a@x.example', 'b@y.example'] };
    expect(fires(when, { sender: 'B@Y.example' })).toBe(true);
    expect(fires(when, { sender: 'c@y.example' })).toBe(false);
  });

  it('senderDomain: any of a list, subdomains included', () => {
    const when = { senderDomain: ['bigbank.example', 'other.example'] };
    expect(fires(when, { senderDomain: 'bigbank.example' })).toBe(true);
    expect(fires(when, { senderDomain: 'mail.BigBank.example' })).toBe(true);
    expect(fires(when, { senderDomain: 'notbigbank.example' })).toBe(false);
  });

  it('tier: any of a list; no tier never matches', () => {
    expect(fires({ tier: ['gold', 'silver'] }, { tier: 'silver' })).toBe(true);
    expect(fires({ tier: ['gold'] }, { tier: 'bronze' })).toBe(false);
    expect(fires({ tier: ['gold'] }, {})).toBe(false);
  });

  it('hasAttachment true and false', () => {
    expect(fires({ hasAttachment: true }, { attachmentNames: ['a.png'] })).toBe(true);
    expect(fires({ hasAttachment: true }, { attachmentNames: [] })).toBe(false);
    expect(fires({ hasAttachment: false }, { attachmentNames: [] })).toBe(true);
    expect(fires({ hasAttachment: false }, { attachmentNames: ['a.png'] })).toBe(false);
  });

  it('attachmentName: any attachment', () => {
    expect(fires({ attachmentName: '\\.log$' }, { attachmentNames: ['a.png', 'server.LOG'] })).toBe(
      true,
    );
    expect(fires({ attachmentName: '\\.log$' }, { attachmentNames: ['a.png'] })).toBe(false);
    expect(fires({ attachmentName: '.*' }, { attachmentNames: [] })).toBe(false);
  });

  it('all conditions of one rule must hold', () => {
    const when = { text: 'invoice', tier: ['gold'], hasAttachment: true };
    expect(fires(when, { body: 'invoice', tier: 'gold', attachmentNames: ['i.pdf'] })).toBe(true);
    expect(fires(when, { body: 'invoice', tier: 'gold' })).toBe(false);
    expect(fires(when, { body: 'invoice', attachmentNames: ['i.pdf'] })).toBe(false);
    expect(fires(when, { body: 'receipt', tier: 'gold', attachmentNames: ['i.pdf'] })).toBe(false);
  });

  it('an empty when always fires', () => {
    expect(fires({}, {})).toBe(true);
  });

  it('works with rules built by hand (a rule object is compiled once and reused)', () => {
    const rs = only({ subject: 'a' });
    expect(classify(rs, matrix, facts({ subject: 'a' })).fired).toEqual(['r']);
    expect(classify(rs, matrix, facts({ subject: 'b' })).fired).toEqual([]);
    expect(classify(rs, matrix, facts({ subject: 'a' })).fired).toEqual(['r']);
  });
});

describe('priorityConfirmation', () => {
  const matrix = parsePlan('version: 1\norganisation: X\n', 't').matrix;

  it('names the impact/urgency pair when the matrix maps it to the priority', () => {
    expect(priorityConfirmation(matrix, 'P2', 'medium', 'high')).toBe(
      'priority P2 (impact medium, urgency high)',
    );
  });

  it('says a priority set against the matrix was set directly, and what the matrix gives', () => {
    // The case: #priority P2 on an incident of high impact and high urgency.
    expect(priorityFor(matrix, 'high', 'high')).toBe('P1');
    expect(priorityConfirmation(matrix, 'P2', 'high', 'high')).toBe(
      'priority P2, set directly: it overrides the matrix, which gives P1 for impact high, urgency high',
    );
  });
});
