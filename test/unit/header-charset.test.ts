import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import {
  CharsetDeclarationScanner,
  decodeLegacyHeader,
  decodeLegacyHeaders,
  needsLegacyDecoding,
  plausibleIn,
} from '../../src/domain/header-charset.js';

const enc = (s: string, charset: string) => iconv.encode(s, charset);

describe('needsLegacyDecoding', () => {
  it('leaves ASCII, UTF-8 and RFC 2047 headers to mailparser', () => {
    expect(needsLegacyDecoding(Buffer.from('Printer down'))).toBe(false);
    expect(needsLegacyDecoding(Buffer.from('Ошибка при оплате', 'utf8'))).toBe(false);
    const mixed = Buffer.concat([Buffer.from('=?gb2312?B?16q3og==?= '), enc('转发', 'gb2312')]);
    expect(needsLegacyDecoding(mixed)).toBe(false);
  });
  it('takes raw 8-bit bytes that are not UTF-8', () => {
    expect(needsLegacyDecoding(enc('转发：整体提升企业服务水平', 'gb2312'))).toBe(true);
    expect(needsLegacyDecoding(enc('Müller', 'windows-1252'))).toBe(true);
  });
});

describe('decodeLegacyHeader', () => {
  it.each([
    ['gb2312', '转发：整体提升企业服务水平'],
    ['gbk', '关于服务器宕机的紧急通知'],
    ['big5', '伺服器無法連線，請協助處理'],
    ['shift_jis', 'ツール'],
    ['euc-kr', '서버 접속 장애 문의'],
    ['koi8-r', 'Ошибка при оплате заказа'],
    ['windows-1252', 'Réclamation – facture impayée'],
  ])('finds %s with no declaration (the detector)', (charset, text) => {
    const got = decodeLegacyHeader(enc(text, charset), []);
    expect(got.text).toBe(text);
    expect(got.via).toBe('detected');
  });

  it('prefers the charset the message declares', () => {
    const got = decodeLegacyHeader(enc('转发：整体提升企业服务水平', 'gb2312'), ['gb2312']);
    expect(got).toEqual({ text: '转发：整体提升企业服务水平', charset: 'gb2312', via: 'declared' });
  });

  it('skips a declared charset that cannot be the header (7-bit, or wrong script)', () => {
    // The case: a Shift_JIS subject in a message whose body is ISO-2022-JP.
    expect(decodeLegacyHeader(enc('ツール', 'shift_jis'), ['iso-2022-jp']).text).toBe('ツール');
    // GB2312 bytes read as the declared windows-1252 are Latin mojibake: not taken.
    const got = decodeLegacyHeader(enc('转发：整体提升企业服务水平', 'gb2312'), ['windows-1252']);
    expect(got.text).toBe('转发：整体提升企业服务水平');
  });

  it('never fails: bytes no charset reads well still come out as text', () => {
    const got = decodeLegacyHeader(Buffer.from([0x81, 0x8d, 0x8f, 0x90, 0x9d]), []);
    expect(typeof got.text).toBe('string');
  });
});

describe('decodeLegacyHeaders', () => {
  it('reads short names in the charset of the message’s other headers', () => {
    const got = decodeLegacyHeaders(
      [enc('【至急】ログインできません', 'shift_jis'), enc('山田太郎', 'shift_jis')],
      [],
    );
    expect(got.map((g) => g.text)).toEqual(['【至急】ログインできません', '山田太郎']);
  });
});

describe('plausibleIn', () => {
  it('accepts letters of the charset’s own script and shared punctuation', () => {
    expect(plausibleIn('转发：整体', 'gb2312')).toBe(true);
    expect(plausibleIn('ツール', 'shift_jis')).toBe(true);
    expect(plausibleIn('Müller GmbH: Störung', 'windows-1252')).toBe(true);
  });
  it('rejects mojibake, control characters and replacement characters', () => {
    expect(plausibleIn('×ª·¢£ºÕûÌåÌáÉý', 'windows-1252')).toBe(false);
    expect(plausibleIn('Ошибка', 'gb2312')).toBe(false);
    expect(plausibleIn('a\u0085b', 'windows-1252')).toBe(false);
    expect(plausibleIn('a\ufffdb', 'koi8-r')).toBe(false);
  });
});

describe('CharsetDeclarationScanner', () => {
  it('collects text parts’ charsets in order, across chunk boundaries and folds', () => {
    const s = new CharsetDeclarationScanner();
    const raw =
      'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n' +
      'Content-Type: text/plain;\r\n\tcharset="GB2312"\r\n\r\nx\r\n--b\r\n' +
      'Content-Type: application/pdf; charset=binary\r\n\r\n--b\r\n' +
      'Content-Type: text/html; charset=big5\r\n\r\ny\r\n--b--\r\n';
    for (let i = 0; i < raw.length; i += 7) s.feed(Buffer.from(raw.slice(i, i + 7)));
    expect(s.charsets()).toEqual(['gb2312', 'big5']);
  });
});
