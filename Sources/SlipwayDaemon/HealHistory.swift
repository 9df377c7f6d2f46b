import Foundation
import SlipwayCore

/// How often each environment's running manifest was healed lately, so that a version that
/// keeps crashing is not restarted (and recorded) forever: heals back off, and the fourth
/// within ten minutes is reported as a crash loop instead (the status then remembers it, see
/// `EnvironmentStatus.crashLoop`). Kept per manifest: a new release starts afresh.
///
/// Only what says the version itself is unwell counts: an instance that died within a minute
/// of its start (`Drift.shortLived`), and a heal that failed. An instance killed after running
/// for a while (the OOM killer, a person), or a stopped HAProxy put back, is healed at once and
/// counts for nothing.
struct HealHistory {
    static let window: Duration = .seconds(600)
    static let maximumHeals = 3

    private var heals: [EnvironmentName: (manifest: ObjectID, times: [ContinuousClock.Instant])] = [:]

    struct Decision {
        let delay: Duration
        let giveUp: String?
    }

    /// Whether to heal `name` (running `manifest`) now, after `delay`, or report a crash loop;
    /// `counts` when the drift is evidence against the version (see above).
    mutating func decide(_ name: EnvironmentName, manifest: ObjectID, counts: Bool, now: ContinuousClock.Instant = .now) -> Decision {
        let recent = self.recent(name, manifest, now: now)
        // What counted before still does: failed heals of a stopped HAProxy end in the verdict too.
        guard recent.count < Self.maximumHeals else {
            heals[name] = (manifest, recent + [now])
            return Decision(delay: .zero, giveUp: "crash loop: healed \(recent.count) times in \(Self.window.components.seconds / 60) minutes; not restarted again until a new release")
        }
        guard counts else { return Decision(delay: recent.isEmpty ? .zero : .seconds(1 << (recent.count - 1)), giveUp: nil) }
        heals[name] = (manifest, recent + [now])
        return Decision(delay: recent.isEmpty ? .zero : .seconds(1 << (recent.count - 1)), giveUp: nil)
    }

    /// A heal of `manifest` that did not put it back counts like a crash.
    mutating func failed(_ name: EnvironmentName, manifest: ObjectID, now: ContinuousClock.Instant = .now) {
        heals[name] = (manifest, recent(name, manifest, now: now) + [now])
    }

    private func recent(_ name: EnvironmentName, _ manifest: ObjectID, now: ContinuousClock.Instant) -> [ContinuousClock.Instant] {
        (heals[name].flatMap { $0.manifest == manifest ? $0.times : nil } ?? []).filter { now - $0 < Self.window }
    }
}
