# incidesk image: built with `docker compose build` (see docker-compose.yml).
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json plan.example.yaml ./
COPY scenarios ./scenarios
COPY templates ./templates
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/incidesk && chmod +x /app/dist/src/cli/main.js
USER node
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["start"]

# The development mail server of the quick start (scripts/devmail.ts): the Dovecot the tests
# run plus a relay into it. Not for production: any address logs in with "secret".
FROM deps AS devmail
RUN apt-get update \
  && apt-get install -y --no-install-recommends dovecot-imapd dovecot-lmtpd \
  && rm -rf /var/lib/apt/lists/*
COPY tsconfig.json ./
COPY src ./src
COPY test/support ./test/support
COPY scripts ./scripts
ENV DEVMAIL_LISTEN=0.0.0.0 DEVMAIL_IMAP_PORT=143 DEVMAIL_SMTP_PORT=25 DEVMAIL_LMTP_PORT=24
EXPOSE 143 25
CMD ["node", "--import", "tsx", "scripts/devmail.ts"]
