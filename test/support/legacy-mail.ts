/**
 * The project's own corpus of imperfect real-world mail (issue 17), built as raw bytes so every
 * quirk is exact: subjects and display names written as raw 8-bit bytes in a legacy charset
 * without RFC 2047 encoding (with and without a charset declared for the body), and the broken
 * sender headers customers' clients produce. Each fixture says what intake must make of it.
 */
import iconv from 'iconv-lite';
import type { SenderSource } from '../../src/domain/sender.js';
import { SUPPORT } from './harness.js';

export interface LegacyFixture {
  name: string;
  raw: Buffer;
  /** The SMTP envelope sender ('' for the null sender); Dovecot writes it as Return-Path. */
  envelopeFrom: string;
  expect: {
    subject: string;
    /** The address the incident answers; null: an incident with no reply address. */
    sender: string | null;
    source?: SenderSource;
    /** The customer's display name, when there is one to decode. */
    customerName?: string;
    /** Automatic mail: recorded, never acknowledged. */
    automatic?: boolean;
    attachmentName?: string;
  };
}

const CRLF = '\r\n';

/** Header lines and a body joined into one message; strings are ASCII, Buffers raw bytes. */
function message(headers: (string | Buffer)[], body: string | Buffer): Buffer {
  const parts: Buffer[] = [];
  for (const h of headers) parts.push(Buffer.isBuffer(h) ? h : Buffer.from(h, 'latin1'), crlf());
  parts.push(crlf(), Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1'), crlf());
  return Buffer.concat(parts);
}
const crlf = () => Buffer.from(CRLF);
const raw = (...pieces: (string | Buffer)[]) =>
  Buffer.concat(pieces.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1'))));

let serial = 0;
function common(id: string): string[] {
  serial++;
  return [
    `To: Support <${SUPPORT}>`,
    `Date: Mon, 9 Nov 2026 09:${String(serial).padStart(2, '0')}:00 +0800`,
    `Message-ID: <legacy-${id}-${serial}@fixtures.example>`,
    'MIME-Version: 1.0',
  ];
}

interface LegacySpec {
  charset: string;
  subject: string;
  name: string;
  local: string;
  domain: string;
  body: string;
}

/** One sample per legacy charset: a subject and a sender name as people write them there. */
const LEGACY: LegacySpec[] = [
  {
    charset: 'gb2312',
    subject: '转发：整体提升企业服务水平',
    name: '王小明',
    local: 'wang.xiaoming',
    domain: 'example.cn',
    body: '请查收附件中的通知。',
  },
  {
    charset: 'gbk',
    subject: '关于服务器宕机的紧急通知',
    name: '李伟',
    local: 'li.wei',
    domain: 'example.cn',
    body: '服务器从早上八点起无法访问。',
  },
  {
    charset: 'big5',
    subject: '伺服器無法連線，請協助處理',
    name: '陳大文',
    local: 'chan.taiman',
    domain: 'example.hk',
    body: '今天早上開始無法連線到伺服器。',
  },
  {
    charset: 'shift_jis',
    subject: '【至急】ログインできません',
    name: '山田太郎',
    local: 'yamada.taro',
    domain: 'example.jp',
    body: '管理画面にログインできません。',
  },
  {
    charset: 'euc-kr',
    subject: '서버 접속 장애 문의',
    name: '김철수',
    local: 'kim.cheolsu',
    domain: 'example.kr',
    body: '오늘 아침부터 서버에 접속할 수 없습니다.',
  },
  {
    charset: 'koi8-r',
    subject: 'Ошибка при оплате заказа',
    name: 'Иван Петров',
    local: 'ivan.petrov',
    domain: 'example.ru',
    body: 'При оплате заказа выходит ошибка.',
  },
  {
    charset: 'windows-1252',
    subject: 'Réclamation – facture impayée',
    name: 'Chloé Dubois',
    local: 'chloe.dubois',
    domain: 'example.fr',
    body: 'Notre facture n’a pas été réglée.',
  },
];

/**
 * A legacy-charset subject and From name, raw. `declared`: the body is in the same charset and
 * says so; otherwise the body is plain ASCII with no charset (the detector must find it).
 */
function legacySubject(spec: LegacySpec, declared: boolean): LegacyFixture {
  const enc = (s: string) => iconv.encode(s, spec.charset);
  const address = `${spec.local}.${declared ? 'd' : 'u'}@${spec.domain}`;
  return {
    name: `${spec.charset} subject, body charset ${declared ? 'declared' : 'not declared'}`,
    raw: message(
      [
        raw('From: ', enc(spec.name), ` <${address}>`),
        raw('Subject: ', enc(spec.subject)),
        ...common(`${spec.charset}-${declared}`),
        declared
          ? `Content-Type: text/plain; charset="${spec.charset}"`
          : 'Content-Type: text/plain',
        'Content-Transfer-Encoding: 8bit',
      ],
      declared ? enc(spec.body) : 'Please see the subject.',
    ),
    envelopeFrom: address,
    expect: { subject: spec.subject, sender: address, source: 'from', customerName: spec.name },
  };
}

/** The issue's own example: a raw Shift_JIS subject in a message whose body is ISO-2022-JP. */
function shiftJisSubjectIso2022Body(): LegacyFixture {
  const address = 'tanaka.hanako@example.jp';
  return {
    name: 'shift_jis subject, body declared iso-2022-jp',
    raw: message(
      [
        raw('From: ', iconv.encode('田中花子', 'shift_jis'), ` <${address}>`),
        raw('Subject: ', iconv.encode('ツール', 'shift_jis')),
        ...common('sjis-2022'),
        'Content-Type: text/plain; charset="iso-2022-jp"',
        'Content-Transfer-Encoding: 7bit',
      ],
      // "ツールが動きません。" in ISO-2022-JP (ESC $ B … ESC ( B).
      '\x1b$B%D!<%k$,F0$-$^$;$s!#\x1b(B',
    ),
    envelopeFrom: address,
    expect: { subject: 'ツール', sender: address, source: 'from', customerName: '田中花子' },
  };
}

/** A GB2312 body and an attachment whose name is raw GB2312 bytes. */
function gb2312AttachmentName(): LegacyFixture {
  const address = 'zhao.lei@example.cn';
  const boundary = 'legacy-boundary-7f3a';
  const gb = (s: string) => iconv.encode(s, 'gb2312');
  return {
    name: 'gb2312 subject and attachment name',
    raw: message(
      [
        raw('From: ', gb('赵磊'), ` <${address}>`),
        raw('Subject: ', gb('故障报告')),
        ...common('gb-attachment'),
        `Content-Type: multipart/mixed; boundary="${boundary}"`,
      ],
      raw(
        `--${boundary}${CRLF}`,
        `Content-Type: text/plain; charset=gb2312${CRLF}`,
        `Content-Transfer-Encoding: 8bit${CRLF}${CRLF}`,
        gb('详见附件。'),
        `${CRLF}--${boundary}${CRLF}`,
        'Content-Type: application/pdf; name="',
        gb('报告.pdf'),
        `"${CRLF}`,
        'Content-Disposition: attachment; filename="',
        gb('报告.pdf'),
        `"${CRLF}`,
        `Content-Transfer-Encoding: base64${CRLF}${CRLF}`,
        `${Buffer.from('%PDF-1.4 fake').toString('base64')}${CRLF}`,
        `--${boundary}--`,
      ),
    ),
    envelopeFrom: address,
    expect: {
      subject: '故障报告',
      sender: address,
      source: 'from',
      customerName: '赵磊',
      attachmentName: '报告.pdf',
    },
  };
}

/** A plain message with the given sender headers (ASCII unless a Buffer). */
function senderCase(
  name: string,
  senderHeaders: (string | Buffer)[],
  envelopeFrom: string,
  expected: Omit<LegacyFixture['expect'], 'subject'>,
  extra: string[] = [],
): LegacyFixture {
  const subject = `Broken sender: ${name}`;
  return {
    name,
    raw: message(
      [
        ...senderHeaders,
        `Subject: ${subject}`,
        ...common(name.replace(/\W+/g, '-')),
        ...extra,
        'Content-Type: text/plain; charset=utf-8',
      ],
      'Our printer queue is stuck again. Please help.',
    ),
    envelopeFrom,
    expect: { subject, ...expected },
  };
}

const wo = Buffer.from('From: "我" <>', 'utf8');

export function legacyCorpus(): LegacyFixture[] {
  serial = 0;
  return [
    ...LEGACY.flatMap((spec) => [legacySubject(spec, true), legacySubject(spec, false)]),
    shiftJisSubjectIso2022Body(),
    gb2312AttachmentName(),
    senderCase(
      'no From, valid Reply-To',
      ['Reply-To: Reply Only <reply.only@example.com>'],
      'bounces+x1@mailer.example.net',
      { sender: 'reply.only@example.com', source: 'reply-to', customerName: 'Reply Only' },
    ),
    senderCase(
      'two From headers, the first junk',
      ['From: Mail System <mailer@>', 'From: Second From <second.from@example.com>'],
      'relay@example.net',
      { sender: 'second.from@example.com', source: 'from', customerName: 'Second From' },
    ),
    senderCase(
      'empty From address, valid Sender',
      [wo, 'Sender: wo.sender@example.cn'],
      'relay@example.net',
      { sender: 'wo.sender@example.cn', source: 'sender' },
    ),
    senderCase('empty From address, envelope sender only', [wo], 'wo.envelope@example.cn', {
      sender: 'wo.envelope@example.cn',
      source: 'return-path',
    }),
    senderCase(
      'trailing dot after the domain',
      ['From: claudia.shu@yahoo.com.'],
      'relay@example.net',
      {
        sender: 'claudia.shu@yahoo.com',
        source: 'from',
      },
    ),
    senderCase(
      'trailing dot inside angle brackets',
      ['From: Claudia Shu <claudia.shu2@yahoo.com.>'],
      'relay@example.net',
      { sender: 'claudia.shu2@yahoo.com', source: 'from' },
    ),
    senderCase(
      'unterminated quote in the display name',
      ['From: "Smith, John <john.smith@example.com>'],
      'relay@example.net',
      { sender: 'john.smith@example.com', source: 'from' },
    ),
    senderCase(
      'stray quote inside the display name',
      ['From: "Bob O"Neil" <bob.oneil@example.ie>'],
      'relay@example.net',
      { sender: 'bob.oneil@example.ie', source: 'from' },
    ),
    senderCase(
      'doubled angle brackets',
      ['From: Nested <<nested.brackets@example.org>>'],
      'relay@example.net',
      { sender: 'nested.brackets@example.org', source: 'from' },
    ),
    senderCase(
      'address after an unquoted name without brackets',
      ['From: Jane Doe jane.doe@example.org'],
      'relay@example.net',
      { sender: 'jane.doe@example.org', source: 'from' },
    ),
    senderCase(
      'legacy display name with a broken quote',
      [raw('From: "', iconv.encode('王芳', 'gb2312'), ' <wang.fang@example.cn>')],
      'relay@example.net',
      { sender: 'wang.fang@example.cn', source: 'from' },
    ),
    senderCase(
      'no From, valid Reply-To, auto-generated',
      ['Reply-To: away@example.com'],
      'away@example.com',
      { sender: 'away@example.com', source: 'reply-to', automatic: true },
      // Automatic, but not an auto-reply (which opens no incident unless it threads to one).
      ['Auto-Submitted: auto-generated'],
    ),
    senderCase('empty From address and null envelope sender', [wo], '', {
      sender: null,
      automatic: true,
    }),
    senderCase('no sender header at all and null envelope sender', [], '', {
      sender: null,
      automatic: true,
    }),
  ];
}
