/** Prometheus text exposition of a few counters; no label carries an id, a name or a token. */

export function createMetrics() {
  const requests = new Map<string, number>();
  const bytes = { uploaded: 0, downloaded: 0 };
  const started = Date.now();
  return {
    request(route: string, method: string, status: number): void {
      const key = `method="${method}",route="${route}",status="${status}"`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
    },
    uploaded(n: number): void {
      bytes.uploaded += n;
    },
    downloaded(n: number): void {
      bytes.downloaded += n;
    },
    render(extra: Record<string, number> = {}): string {
      const lines = [
        "# HELP medvault_http_requests_total HTTP requests by route and status.",
        "# TYPE medvault_http_requests_total counter",
        ...[...requests].map(([k, v]) => `medvault_http_requests_total{${k}} ${v}`),
        "# HELP medvault_uploaded_bytes_total Plaintext bytes accepted.",
        "# TYPE medvault_uploaded_bytes_total counter",
        `medvault_uploaded_bytes_total ${bytes.uploaded}`,
        "# HELP medvault_downloaded_bytes_total Verified plaintext bytes served.",
        "# TYPE medvault_downloaded_bytes_total counter",
        `medvault_downloaded_bytes_total ${bytes.downloaded}`,
        "# HELP medvault_uptime_seconds Seconds since start.",
        "# TYPE medvault_uptime_seconds gauge",
        `medvault_uptime_seconds ${Math.round((Date.now() - started) / 1000)}`,
        ...Object.entries(extra).flatMap(([k, v]) => [`# TYPE medvault_${k} gauge`, `medvault_${k} ${v}`]),
      ];
      return `${lines.join("\n")}\n`;
    },
  };
}
