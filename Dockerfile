# Tally's container image. Two stages: the first builds the npm package from the checkout (`npm pack`,
# which compiles dist/), the second installs that package with its production dependencies only,
# exactly as test/ship/package.test.ts installs it (that test also runs this file's CMD, ENV and
# WORKDIR against the packed build on a machine without Docker).
#
#   docker build -t tally .
#   docker run -p 9001:9001 -v tally-data:/var/lib/tally -e TALLY_API_TOKENS=ops:admin:<secret> tally

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm pack --pack-destination /tmp && mv /tmp/tally-*.tgz /tmp/tally.tgz

FROM node:20-bookworm-slim
WORKDIR /opt/tally
COPY --from=build /tmp/tally.tgz /tmp/tally.tgz
RUN echo '{"name":"tally-image","private":true}' > package.json \
  && npm install --omit=dev --no-audit --no-fund --no-package-lock /tmp/tally.tgz \
  && rm /tmp/tally.tgz && npm cache clean --force \
  && useradd --system --uid 10001 --home-dir /var/lib/tally tally \
  && mkdir -p /var/lib/tally && chown tally:tally /var/lib/tally
ENV NODE_ENV=production PORT=9001 HOST=0.0.0.0 TALLY_DATA_DIR=/var/lib/tally
USER tally
# The embedded database (PGlite) when DATABASE_URL is unset.
VOLUME ["/var/lib/tally"]
EXPOSE 9001
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "node_modules/tally/bin/tally.mjs", "serve"]
