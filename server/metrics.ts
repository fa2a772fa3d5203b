/** Prometheus metrics of one server instance (its own registry, so several servers can share a process). */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export class ServerMetrics {
  readonly registry = new Registry();
  readonly eventsIngested = new Counter({
    name: "kyoka_events_ingested_total",
    help: "Events stored (duplicates of an already stored (agent, seq) not counted)",
    registers: [this.registry],
  });
  readonly eventsDuplicate = new Counter({
    name: "kyoka_events_duplicate_total",
    help: "Events received again for an (agent, seq) already stored (acked, not stored twice)",
    registers: [this.registry],
  });
  readonly agentsConnected = new Gauge({
    name: "kyoka_agents_connected",
    help: "Agents connected over WebSocket now",
    registers: [this.registry],
  });
  readonly ingestBatchSeconds = new Histogram({
    name: "kyoka_ingest_batch_duration_seconds",
    help: "Duration of one group-commit transaction",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly ingestBatchEvents = new Histogram({
    name: "kyoka_ingest_batch_events",
    help: "Events per group-commit transaction",
    buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000],
    registers: [this.registry],
  });
  readonly notifications = new Counter({
    name: "kyoka_notifications_total",
    help: "Alert notifications (server/notify/) per channel: sent, or failed after their retries (incl. dropped from a full queue)",
    labelNames: ["channel", "result"] as const,
    registers: [this.registry],
  });
  readonly protocolErrors = new Counter({
    name: "kyoka_agent_protocol_errors_total",
    help: "Agent connections refused or closed for a protocol reason",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });
}
