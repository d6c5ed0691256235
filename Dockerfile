# nsconsole in a container. It needs the host's view of processes and mounts: run it privileged with
# `pid: host` (see docker-compose.yml); it then shows and enters the host's namespaces.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends util-linux mount bash procps \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev
ENV NSCONSOLE_HOST=0.0.0.0 NSCONSOLE_PORT=4280 NSCONSOLE_NS_DIR=/run/nsconsole/ns
EXPOSE 4280
CMD ["node", "dist/server/main.js"]
