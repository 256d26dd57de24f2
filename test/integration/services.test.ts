/**
 * Smoke test for the real services started by test/support/global-setup.ts: if this fails,
 * every other integration test would fail for the same reason.
 */
import { ImapFlow } from 'imapflow';
import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import nodemailer from 'nodemailer';
import { describe, expect, inject, it } from 'vitest';
import { uniqueName } from '../support/services.js';

const services = inject('services');

describe('test services', () => {
  it(`MongoDB protocol (${services.mongoBackend}): insert, read, unique index`, async () => {
    const conn = await mongoose
      .createConnection(services.mongoUri, { dbName: uniqueName('smoke') })
      .asPromise();
    try {
      const Thing = conn.model(
        'Thing',
        new mongoose.Schema({ key: { type: String, required: true, unique: true }, n: Number }),
      );
      await Thing.init(); // builds the unique index
      await Thing.create({ key: 'a', n: 1 });
      expect((await Thing.findOne({ key: 'a' }).lean())?.n).toBe(1);
      await expect(Thing.create({ key: 'a', n: 2 })).rejects.toMatchObject({ code: 11000 });
      expect(await Thing.countDocuments()).toBe(1);
    } finally {
      await conn.dropDatabase();
      await conn.close();
    }
  });

  it('Redis: SET and GET', async () => {
    const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const key = uniqueName('smoke');
      await redis.set(key, 'value', 'EX', 60);
      expect(await redis.get(key)).toBe('value');
      await redis.del(key);
    } finally {
      redis.disconnect();
    }
  });

  it('Dovecot: IMAP login as any user, LMTP delivery lands in that INBOX', async () => {
    const user = `${uniqueName('t')}@example.test`;
    const imap = new ImapFlow({
      host: services.imapHost,
      port: services.imapPort,
      secure: false,
      auth: { user, pass: services.dovecotPassword },
      logger: false,
    });
    await imap.connect();
    try {
      const inbox = await imap.mailboxOpen('INBOX');
      expect(inbox.exists).toBe(0);

      const lmtp = nodemailer.createTransport({
        lmtp: true,
        host: services.imapHost,
        port: services.lmtpPort,
        ignoreTLS: true,
      });
      const info = await lmtp.sendMail({
        from: 'customer@example.org',
        to: user,
        subject: 'The printer is on fire',
        text: 'Please help.',
      });
      lmtp.close();
      expect(info.accepted).toEqual([user]);

      // Dovecot answers STATUS on the *selected* mailbox from the session's view, which only
      // catches up with new mail on the next command that syncs (NOOP, IDLE, ...).
      await imap.noop();
      const status = await imap.status('INBOX', { messages: true });
      expect(status && status.messages).toBe(1);
    } finally {
      await imap.logout();
    }
  });
});
