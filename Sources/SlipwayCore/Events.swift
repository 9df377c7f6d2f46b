/// What Slipway tells people about (README, "Notifications"), as notifications and records name it.
public enum EventKind: String, Sendable, Codable, CaseIterable, Hashable {
    case started
    /// A checklist or a blue-green switch waits for `slipway approve`.
    case waiting = "waiting-for-approval"
    /// The new version took all the traffic.
    case promoted
    /// A canary step (or an analysed rolling batch) passed its analysis.
    case stepPassed = "step-passed"
    case succeeded
    case failed
    case rolledBack = "rolled-back"
    case healed
    /// A manifest refused under `Trust/`: nothing it says was acted on.
    case refused
}

/// How one event reached (or did not reach) one notification channel, as the record tells it.
public struct NotificationDelivery: Sendable, Codable, Hashable {
    public enum State: String, Sendable, Codable, Hashable {
        case delivered, failed
        /// Still being tried when the record was written.
        case pending
    }

    public let event: EventKind
    public let channel: String
    public let state: State
    public let attempts: Int
    /// The last answer or error, never a URL or a token.
    public let detail: String

    public init(event: EventKind, channel: String, state: State, attempts: Int, detail: String) {
        self.event = event
        self.channel = channel
        self.state = state
        self.attempts = attempts
        self.detail = detail
    }
}
