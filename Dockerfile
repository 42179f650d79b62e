# The agent-runtime worker. Build: docker build -t agent-runtime-worker .
FROM node:20-bookworm-slim
# bubblewrap: sandboxed tools; python3: the run_python tool. Build tools for better-sqlite3.
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap python3 make g++ ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false
COPY . .
ENV NODE_ENV=production
CMD ["node", "--import", "tsx", "workers/main.ts"]
