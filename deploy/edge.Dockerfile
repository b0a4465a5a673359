# The edge node image: plain workerd serving the bundled Worker with deploy/workerd/config.capnp;
# the same image runs the node's usage outbox with outbox.capnp (deploy/k3s/edge.yaml).
# Not built in CI here (no Docker engine on these machines); see README "Production".
# Build from the repository root: docker build -f deploy/edge.Dockerfile -t taas-edge .

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts run: workerd's postinstall selects the platform binary.
RUN npm ci
COPY . .
RUN npx tsx scripts/build-edge.ts

# workerd is a glibc binary; the slim Debian base matches the one npm installed it for.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 edge
COPY --from=build /src/node_modules/@cloudflare/workerd-linux-64/bin/workerd /usr/local/bin/workerd
COPY --from=build /src/dist/edge/index.js /srv/edge/index.js
COPY deploy/workerd/config.capnp deploy/workerd/outbox.capnp /srv/edge/
USER 10001
EXPOSE 8080
# Bindings (NODE_ID, NODE_PRIVATE_KEY, NODE_ENCRYPTION_KEY, ...) come from the environment.
ENTRYPOINT ["/usr/local/bin/workerd", "serve", "/srv/edge/config.capnp"]
