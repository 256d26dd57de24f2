# incidesk image: built with `docker compose build` (see docker-compose.yml).
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
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
COPY templates ./templates
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/incidesk && chmod +x /app/dist/src/cli/main.js
USER node
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["start"]
