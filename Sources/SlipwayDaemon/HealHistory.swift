import Foundation
import SlipwayCore

/// How often each environment was healed lately, so that a version that keeps crashing is not
/// restarted (and recorded) forever: heals back off, and the fourth within ten minutes is
/// reported as a crash loop once instead. A new run of the environment starts afresh.
struct HealHistory {
    static let window: Duration = .seconds(600)
    static let maximumHeals = 3

    private var heals: [EnvironmentName: [ContinuousClock.Instant]] = [:]
    private var gaveUp: Set<EnvironmentName> = []

    struct Decision {
        let delay: Duration
        let giveUp: String?
    }

    /// Whether to heal `name` now (after `delay`), report a crash loop, or leave it (nil).
    mutating func decide(_ name: EnvironmentName, now: ContinuousClock.Instant = .now) -> Decision? {
        guard !gaveUp.contains(name) else { return nil }
        let recent = (heals[name] ?? []).filter { now - $0 < Self.window }
        heals[name] = recent + [now]
        guard recent.count < Self.maximumHeals else {
            gaveUp.insert(name)
            return Decision(delay: .zero, giveUp: "crash loop: healed \(recent.count) times in \(Self.window.components.seconds / 60) minutes; not restarted again until the next deployment")
        }
        return Decision(delay: recent.isEmpty ? .zero : .seconds(1 << (recent.count - 1)), giveUp: nil)
    }

    mutating func forget(_ names: some Sequence<EnvironmentName>) {
        for name in names {
            heals[name] = nil
            gaveUp.remove(name)
        }
    }
}
