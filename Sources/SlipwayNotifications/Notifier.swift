public import SlipwayCore
public import Logging
import Synchronization

/// Delivers events beside the pipeline: `send` only queues and returns, so a slow or failing
/// receiver never delays or fails a deployment. Each channel of each environment has its own
/// queue, delivered in order (a retried event holds back the ones after it, so a receiver
/// never sees `succeeded` before `started`); a failed attempt is retried with exponential
/// backoff. What happened to each event is kept per deployment for its record.
public final class Notifier: Sendable {
    public struct Policy: Sendable {
        public var attempts = 5
        public var firstBackoff: Duration = .seconds(1)
        public var maximumBackoff: Duration = .seconds(30)
        /// Events waiting per queue; more are dropped (and logged) rather than held without end.
        public var queueLimit = 1000
        public init() {}
    }

    /// Called after each attempt (for metrics): channel, event, and delivered, failed (given
    /// up) or pending (to be tried again).
    public typealias Observer = @Sendable (String, EventKind, NotificationDelivery.State) -> Void

    private struct Job {
        let event: DeploymentEvent
        let channel: Channel
        /// Where its report is in its deployment's list.
        let slot: Int
    }

    private struct Queue {
        var jobs: [Job] = []
        var running = false
    }

    private struct State {
        var queues: [String: Queue] = [:]
        var reports: [DeploymentID: [NotificationDelivery]] = [:]
        /// Deployments in the order their first report came, to forget the oldest.
        var order: [DeploymentID] = []
    }

    private let state = Mutex(State())
    private let policy: Policy
    private let logger: Logger
    private let observer: Observer?
    /// Deployments whose reports are kept; older ones are forgotten.
    static let keptDeployments = 256

    public init(policy: Policy = Policy(), logger: Logger, observer: Observer? = nil) {
        self.policy = policy
        self.logger = logger
        self.observer = observer
    }

    /// Queues `event` for each of `channels` that takes it; returns at once.
    public func send(_ event: DeploymentEvent, to channels: [Channel]) {
        for channel in channels where channel.events.contains(event.kind) {
            let key = "\(event.environment)/\(channel.name)"
            let start = state.withLock { state -> Bool in
                var queue = state.queues[key] ?? Queue()
                guard queue.jobs.count < policy.queueLimit else {
                    logger.error("notification dropped: its queue is full", metadata: ["channel": "\(channel.name)", "event": "\(event.kind.rawValue)"])
                    return false
                }
                if state.reports[event.deployment] == nil {
                    state.order.append(event.deployment)
                    if state.order.count > Self.keptDeployments { state.reports[state.order.removeFirst()] = nil }
                }
                let slot = state.reports[event.deployment, default: []].count
                state.reports[event.deployment, default: []].append(
                    NotificationDelivery(event: event.kind, channel: channel.name, state: .pending, attempts: 0, detail: "queued"))
                queue.jobs.append(Job(event: event, channel: channel, slot: slot))
                let idle = !queue.running
                queue.running = true
                state.queues[key] = queue
                return idle
            }
            if start { Task.detached { await self.pump(key) } }
        }
    }

    /// What became of the events of `deployment` so far, in the order they were sent.
    public func deliveries(of deployment: DeploymentID) -> [NotificationDelivery] {
        state.withLock { $0.reports[deployment] ?? [] }
    }

    /// Waits until every queue is empty, or `timeout` passed (a command ends here: `apply`
    /// waits for its last events before it exits). Returns whether everything was delivered or given up.
    @discardableResult
    public func drain(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.queues.values.allSatisfy { !$0.running } }) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Delivers one queue's jobs in order until it is empty.
    private func pump(_ key: String) async {
        while let job = state.withLock({ state -> Job? in
            guard let job = state.queues[key]?.jobs.first else {
                state.queues[key] = nil
                return nil
            }
            return job
        }) {
            await deliver(job)
            state.withLock { _ = $0.queues[key]?.jobs.removeFirst() }
        }
    }

    private func deliver(_ job: Job) async {
        var backoff = policy.firstBackoff
        var previous = ""
        for attempt in 1...max(policy.attempts, 1) {
            record(job, .pending, attempt - 1, "attempt \(attempt) of \(policy.attempts) in flight" + previous)
            do {
                try await job.channel.attempt(job.event)
                record(job, .delivered, attempt, attempt == 1 ? "delivered" : "delivered on attempt \(attempt)")
                observer?(job.channel.name, job.event.kind, .delivered)
                return
            } catch {
                let last = attempt >= policy.attempts || (error as? DeliveryFailure)?.permanent == true
                previous = "; attempt \(attempt): \(error)"
                record(job, last ? .failed : .pending, attempt, last ? "\(error)" : "attempt \(attempt): \(error); next in \(backoff)")
                observer?(job.channel.name, job.event.kind, last ? .failed : .pending)
                logger.warning("notification not delivered", metadata: [
                    "channel": "\(job.channel.name)", "event": "\(job.event.kind.rawValue)", "env": "\(job.event.environment)",
                    "attempt": "\(attempt)", "error": "\(error)", "next": "\(last ? "given up" : "\(backoff)")",
                ])
                if last { return }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, policy.maximumBackoff)
            }
        }
    }

    /// Sets the report of `job` (in its deployment's list, unless forgotten meanwhile).
    private func record(_ job: Job, _ outcome: NotificationDelivery.State, _ attempts: Int, _ detail: String) {
        let delivery = NotificationDelivery(event: job.event.kind, channel: job.channel.name, state: outcome, attempts: attempts, detail: detail)
        state.withLock { state in
            guard let count = state.reports[job.event.deployment]?.count, job.slot < count else { return }
            state.reports[job.event.deployment]?[job.slot] = delivery
        }
    }
}
