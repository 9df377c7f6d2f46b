import Foundation
import SlipwayCore

/// How often each environment's running manifest was healed lately, so that a version that
/// keeps crashing is not restarted (and recorded) forever: heals back off, and the fourth
/// within ten minutes is reported as a crash loop instead (the status then remembers it, see
/// `EnvironmentStatus.crashLoop`). Kept per manifest: a new release starts afresh.
struct HealHistory {
    static let window: Duration = .seconds(600)
    static let maximumHeals = 3

    private var heals: [EnvironmentName: (manifest: ObjectID, times: [ContinuousClock.Instant])] = [:]

    struct Decision {
        let delay: Duration
        let giveUp: String?
    }

    /// Whether to heal `name` (running `manifest`) now, after `delay`, or report a crash loop.
    mutating func decide(_ name: EnvironmentName, manifest: ObjectID, now: ContinuousClock.Instant = .now) -> Decision {
        let earlier = heals[name].flatMap { $0.manifest == manifest ? $0.times : nil } ?? []
        let recent = earlier.filter { now - $0 < Self.window }
        heals[name] = (manifest, recent + [now])
        guard recent.count < Self.maximumHeals else {
            return Decision(delay: .zero, giveUp: "crash loop: healed \(recent.count) times in \(Self.window.components.seconds / 60) minutes; not restarted again until a new release")
        }
        return Decision(delay: recent.isEmpty ? .zero : .seconds(1 << (recent.count - 1)), giveUp: nil)
    }
}
