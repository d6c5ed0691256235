# nsconsole in a container. It needs the host's view of processes: run it privileged with `pid: host`
# (see docker-compose.yml); it then shows and enters the host's namespaces and containers.

# Build stage: node-pty 1.1.0 has no linux-x64 prebuild, so `npm ci` compiles it with node-gyp, which needs
# python3, make and g++ (the slim image has none). The compiler stays in this stage.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp builds against the headers the image ships (/usr/local/include/node) instead of downloading them.
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=warn
COPY . .
# The server and the web app only (`npm run build` also compiles the tests, which the image does not carry).
RUN npx tsc -b server \
 && node scripts/build-web-if-stale.mjs \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=warn

# Runtime stage: what the server runs (nsenter, unshare, mount, umount) and what a shell in it is handy with.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends util-linux mount bash procps iproute2 less \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/server ./dist/server
COPY --from=build /app/dist/shared ./dist/shared
COPY --from=build /app/dist/web ./dist/web
COPY --from=build /app/lessons ./lessons
# Loopback of the network it runs in (docker-compose.yml runs it in the host's: `network_mode: host`).
ENV NSCONSOLE_HOST=127.0.0.1 NSCONSOLE_PORT=4280 NSCONSOLE_NS_DIR=/run/nsconsole/ns SHELL=/bin/bash
EXPOSE 4280
CMD ["node", "dist/server/main.js"]
