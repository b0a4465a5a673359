# The control plane image: Node 20, production dependencies only, our TypeScript bundled by
# esbuild (dependencies stay external, resolved from node_modules). Not built in CI here.
# Build from the repository root: docker build -f deploy/control-plane.Dockerfile -t taas-control-plane .

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npx esbuild control-plane/main.ts --bundle --platform=node --format=esm --target=node20 \
      --packages=external --outfile=out/control-plane/main.js

FROM node:20-bookworm-slim
ENV NODE_ENV=production CP_HOST=0.0.0.0 CP_PORT=7301
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/out/control-plane/main.js control-plane/main.js
# control-plane/server.ts finds the migrations at ../migrations/ from its own file.
COPY migrations migrations
USER 1000
EXPOSE 7301
CMD ["node", "control-plane/main.js"]
