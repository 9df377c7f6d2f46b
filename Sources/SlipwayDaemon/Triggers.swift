/// Wake-ups of the reconcile loop (a ref changed, a hook notified, a poll came due). Only the
/// newest is kept: several pushes in a row cause one reconcile, not one each.
public struct Triggers: Sendable {
    public let stream: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    public init() {
        (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// `reason` is logged: `ref`, `poll`, `notify`.
    public func fire(_ reason: String) { continuation.yield(reason) }
    public func finish() { continuation.finish() }
}
