import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { markdownToHtml } from '../../src/mail/markdown.js';
import {
  ownTemplateProblems,
  render,
  templateLocales,
  templateProblems,
} from '../../src/mail/templates.js';

const base = {
  incidentId: 'INC-000042',
  incidentSubject: 'VPN down',
  organisation: 'Example Corp',
  supportName: 'Example Support',
  timeZone: 'Europe/Berlin',
};
const ack = {
  ...base,
  subject: 'VPN down',
  customerName: 'Jana',
  receivedAt: new Date('2026-12-07T13:30:00Z'),
};

describe('customer mail templates', () => {
  it('ship complete in English and German', () => {
    expect(templateLocales()).toEqual(['de', 'en']);
    expect(templateProblems('en')).toEqual({ errors: [], warnings: [] });
    expect(templateProblems('de')).toEqual({ errors: [], warnings: [] });
  });

  it('are rendered in the mail’s locale, with times in its zone and language', () => {
    const de = render('acknowledgement', { ...ack, locale: 'de' });
    expect(de.text).toContain('Guten Tag Jana,');
    expect(de.text).toContain('am Mo., 7. Dez. 2026, 14:30 MEZ');
    expect(de.html).toContain('<html lang="de">');
    const en = render('acknowledgement', { ...ack, locale: 'en' });
    expect(en.text).toContain('on Mon, 7 Dec 2026, 14:30 CET');
  });

  it('fall back to the default locale, times included, and the check names what is missing', () => {
    const fr = render('acknowledgement', { ...ack, locale: 'fr' }, 'de');
    expect(fr.text).toContain('Guten Tag Jana,');
    expect(fr.text).toContain('Mo., 7. Dez. 2026');
    expect(templateProblems('en', ['fr'])).toEqual({
      errors: [],
      warnings: [
        'templates/fr/ lacks acknowledgement, agent-reply, resolved, stakeholder-briefing, stakeholder-update: fr customers get those in en',
      ],
    });
    expect(templateProblems('fr').errors).toEqual([
      'templates/fr/ (the default locale) lacks acknowledgement, agent-reply, resolved, stakeholder-briefing, stakeholder-update: customer mail cannot be written',
    ]);
  });

  it('staff mail stays in templates/ and in English, in the agent’s zone', () => {
    const warning = render('sla-warning', {
      ...base,
      locale: 'en',
      timeZone: 'Europe/Berlin',
      name: 'Bob',
      target: 'first response',
      dueAt: new Date('2026-12-06T21:16:57.326Z'),
      priority: 'P2',
    });
    expect(warning.text).toContain('is due Sun, 6 Dec 2026, 22:16 CET.');
    expect(warning.html).toBeUndefined();
  });
});

describe('a mailbox’s own templates', () => {
  /** A template directory with these files (relative path → content). */
  const dir = (files: Record<string, string>) => {
    const root = mkdtempSync(join(tmpdir(), 'incidesk-own-templates-'));
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(join(root, rel, '..'), { recursive: true });
      writeFileSync(join(root, rel), text);
    }
    return root;
  };

  it('replace the shipped file of the same path, each file on its own; the rest are shipped', () => {
    const own = dir({
      'de/acknowledgement.text.hbs': 'Servus {{customerName}}, {{incidentId}}.',
      'fr/acknowledgement.text.hbs': 'Bonjour {{customerName}}, {{incidentId}}.',
      'assignment.text.hbs': 'To {{name}}: {{incidentId}} is yours.',
    });
    const de = render('acknowledgement', { ...ack, locale: 'de' }, 'en', own);
    expect(de.text).toBe('Servus Jana, INC-000042.');
    expect(de.html).toContain('<html lang="de">'); // no own HTML part: the shipped one
    // A locale only the mailbox's directory has; a template it does not replace.
    expect(render('acknowledgement', { ...ack, locale: 'fr' }, 'en', own).text).toBe(
      'Bonjour Jana, INC-000042.',
    );
    expect(templateLocales(own)).toEqual(['de', 'en', 'fr']);
    const resolved = { ...ack, locale: 'de', reopenDays: 14 };
    expect(render('resolved', resolved, 'en', own).text).toBe(
      render('resolved', resolved, 'en').text,
    );
    expect(render('assignment', { ...base, name: 'Bob' }, 'en', own).text).toBe(
      'To Bob: INC-000042 is yours.',
    );
    // Without the directory, nothing of it is used.
    expect(render('acknowledgement', { ...ack, locale: 'de' }).text).toContain('Guten Tag Jana,');
  });

  it('fall back through the mailbox’s locale before the plan’s', () => {
    const nl = render('acknowledgement', { ...ack, locale: 'nl' }, ['de', 'en']);
    expect(nl.text).toContain('Guten Tag Jana,');
  });

  it('the check names a file that replaces nothing and one that does not compile', () => {
    const own = dir({
      'en/acknowledgment.text.hbs': 'typo',
      'en/resolved.text.hbs': '{{#if x}}never closed',
      'de/agent-reply.html.hbs': '<p>{{text}}</p>',
    });
    expect(ownTemplateProblems(own)).toEqual([
      `${own}/en/acknowledgment.text.hbs replaces no template: templates/ has no en/acknowledgment.text.hbs`,
      expect.stringMatching(new RegExp(`^${own}/en/resolved\\.text\\.hbs does not compile: `)),
    ]);
  });
});

describe('agent text as HTML', () => {
  it('renders paragraphs, lists, links and emphasis', () => {
    const html = markdownToHtml(
      'Hello,\n\nplease:\n\n- restart the *client*\n- try again\n\n1. one\n2. two\n\nSee [status](https://status.example.test).',
    );
    expect(html).toContain('<ul>\n<li>restart the <em>client</em></li>');
    expect(html).toContain('<ol>\n<li>one</li>');
    expect(html).toContain('<a href="https://status.example.test">status</a>');
  });

  it('escapes HTML and refuses script links and remote images', () => {
    const html = markdownToHtml(
      '<script>alert(1)</script> <b onclick="x()">b</b>\n\n[x](javascript:alert(1)) ![t](https://track.example/p.png)',
    );
    expect(html).not.toMatch(/<script|<b |href="javascript|<img/);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('goes into the agent reply’s HTML part; the text part keeps the text', () => {
    const reply = render('agent-reply', {
      ...base,
      locale: 'en',
      agentName: 'Bob',
      customerName: '',
      body: '- a <i>b</i>',
    });
    expect(reply.html).toContain('<li>a &lt;i&gt;b&lt;/i&gt;</li>');
    expect(reply.text).toContain('- a <i>b</i>');
  });
});

describe('communication protocol templates', () => {
  const data = {
    ...base,
    priority: 'P1',
    category: 'outage',
    status: 'in-progress',
    group: 'Network',
    assignee: 'Bob',
    reports: 3,
    openedAt: new Date('2026-12-07T09:00:00Z'),
    resolvedAt: new Date('2026-12-07T11:15:00Z'),
    fix: 'failed over to the second site',
    workaround: '',
    updateNumber: 0,
    protocol: 'major-incident',
  };
  const at = (moment: 'opened' | 'update' | 'resolved') => ({
    opened: moment === 'opened',
    update: moment === 'update',
    resolved: moment === 'resolved',
  });

  it('tell customers, in their language, without internal detail', () => {
    const opened = render('stakeholder-update', { ...data, ...at('opened'), locale: 'en' });
    expect(opened.text).toContain('working on it since Mon, 7 Dec 2026, 10:00 CET');
    expect(opened.text).not.toMatch(/P1|Bob|Network/);
    const resolved = render('stakeholder-update', { ...data, ...at('resolved'), locale: 'de' });
    expect(resolved.text).toContain(
      'das folgende Problem ist gelöst (Mo., 7. Dez. 2026, 12:15 MEZ)',
    );
    expect(resolved.text).toContain('Was wir getan haben: failed over to the second site');
    expect(resolved.html).toContain('<html lang="de">');
  });

  it('brief staff with the incident’s state, marked internal', () => {
    const update = render('stakeholder-briefing', {
      ...data,
      ...at('update'),
      updateNumber: 2,
      locale: 'en',
    });
    expect(update.text).toMatch(/^INTERNAL: not for customers\./);
    expect(update.text).toContain('INC-000042: status update 2.');
    expect(update.text).toContain('Priority:  P1');
    expect(update.html).toContain('INTERNAL');
    const de = render('stakeholder-briefing', { ...data, ...at('opened'), locale: 'de' });
    expect(de.text).toContain('INC-000042 wurde eröffnet (Mo., 7. Dez. 2026, 10:00 MEZ).');
  });

  it('ask the approver with the message’s id, what it reads, and how to release it', () => {
    const ask = render('protocol-approval', {
      ...base,
      locale: 'en',
      name: 'Lee',
      ref: '3fa9c1',
      protocol: 'customer-outage',
      template: 'stakeholder-update',
      moment: 'opened',
      audience: 'external',
      recipients: ['a@x.test', 'b@y.test'],
      preview: 'Hello, we know about it.',
    });
    expect(ask.text).toContain('Recipients: a@x.test, b@y.test');
    expect(ask.text).toContain('#approve 3fa9c1');
    expect(ask.text).toContain('Hello, we know about it.');
    expect(ask.html).toBeUndefined();
  });
});
