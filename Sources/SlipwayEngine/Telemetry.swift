public import CoreMetrics
import Foundation
public import SlipwayCore
import SlipwayRecords

/// What Slipway counts, through swift-metrics (README, "The daemon", status page and metrics). The factory is passed in,
/// never bootstrapped globally: the daemon gives its Prometheus registry's, a one-off command
/// gives none (nothing is counted).
public struct Telemetry: Sendable {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) { self.factory = factory }

    public static let durationName = "slipway_deployment_duration_seconds"
    /// From a one-second rollout to an hour's soak (a histogram's default buckets end at 10 s).
    public static let durationBuckets: [Duration] = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600].map { .seconds($0) }

    /// A run ended: counted by result, timed, its rollback and a success remembered.
    func ended(_ record: DeploymentRecord) {
        let env = record.environment.rawValue, result = record.result.rawValue
        Counter(label: "slipway_deployments_total", dimensions: [("env", env), ("result", result)], factory: factory).increment()
        let milliseconds = record.timing?.totalMilliseconds ?? Int(record.finished.timeIntervalSince(record.started) * 1000)
        Timer(label: Self.durationName, dimensions: [("env", env), ("result", result)], factory: factory)
            .recordNanoseconds(Int64(milliseconds) * 1_000_000)
        if let rollback = record.rollback {
            Counter(label: "slipway_rollbacks_total", dimensions: [("env", env), ("trigger", rollback.trigger.rawValue)], factory: factory).increment()
        }
        if record.result == .healed {
            Counter(label: "slipway_heals_total", dimensions: [("env", env)], factory: factory).increment()
        }
        if record.result == .succeeded {
            Gauge(label: "slipway_last_success_timestamp_seconds", dimensions: [("env", env)], factory: factory)
                .record(record.finished.timeIntervalSince1970)
        }
    }

    /// One analysis window: what each side served in it.
    func window(_ environment: EnvironmentName, canary: Metrics, baseline: Metrics?) {
        for (side, metrics) in [("new", canary), ("previous", baseline)] {
            guard let metrics else { continue }
            let dimensions = [("env", environment.rawValue), ("side", side)]
            Gauge(label: "slipway_analysis_requests", dimensions: dimensions, factory: factory).record(metrics.requests)
            Gauge(label: "slipway_analysis_error_rate_percent", dimensions: dimensions, factory: factory).record(metrics.errorRate)
            Gauge(label: "slipway_analysis_response_milliseconds", dimensions: dimensions, factory: factory).record(metrics.responseMilliseconds)
        }
    }

    /// One notification attempt's outcome (for `Notifier`'s observer).
    public func notification(channel: String, event: EventKind, state: NotificationDelivery.State) {
        let result = state == .pending ? "retried" : state.rawValue
        Counter(label: "slipway_notifications_total", dimensions: [("channel", channel), ("event", event.rawValue), ("result", result)],
                factory: factory).increment()
    }
}
